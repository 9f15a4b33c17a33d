"""Alternative implementations of posemods ops that the benchmarks compare against."""
