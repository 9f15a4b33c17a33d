"""The fuzz harness: a deterministic run over the public API, one command that prints the counts.

    python -m tests.fuzz [--json OUT] [--area A] [--show N]

Every case calls one public entry point (a module, a functional op, a model, a metric, a reader, the
synthetic data, a checkpoint loader, the training config) with a bad or edge input from fixed pools
(zero, negative, NaN, inf, strings, None, bools, numpy scalars, empty batches, mismatched shapes and
dtypes, damaged files), and sorts the outcome into one of five classes:

==============  ====================================================================================
clear error     a ValueError / TypeError / FileNotFoundError whose message names the argument or file
correct         a result that passes the case's check (shape; NaN in -> NaN out; finite -> finite)
cryptic         any other exception, or an error naming nothing the caller passed
silently wrong  a result for an input the contract forbids, or one that fails the case's check
crash           the process died (each area runs in a child process, so the run goes on), MemoryError,
                OverflowError, RecursionError, or no answer within the time limit
==============  ====================================================================================

Issue 15 asks for zero cryptic, silently wrong and crash outcomes. The case list is fixed and the
random draws are seeded, so two runs of one tree give the same counts. It takes a few minutes on 2
CPU cores. The parts:

- :mod:`tests.fuzz.classification`: a :class:`Case` and the rule that sorts its outcome;
- :mod:`tests.fuzz.cases`: the cases, area by area. Whether an input is valid comes from the
  contract's predicates in :mod:`posemods._shapes` (``is_positive_int``, ``is_positive_real``,
  ``is_real``, ``is_size``), written once there and pinned to literal tables by tests/test_shapes.py;
  the harness checks that every entry point applies them;
- :mod:`tests.fuzz.runner`: each area in a child process, the counts, the command line.

tests/test_properties.py holds the same rule with hypothesis, in the default suite.
"""
