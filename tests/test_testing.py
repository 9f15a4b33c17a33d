"""The comparison helpers every parity test relies on must themselves be able to fail."""

import pytest
import torch

from posemods.testing import TOLERANCES, assert_close


def test_within_tolerance_passes_and_nans_must_line_up():
    expected = torch.linspace(-1, 1, 100)
    assert_close(expected + 1e-7, expected, torch.float32, name="x")
    with pytest.raises(AssertionError, match="NaNs at different places"):
        assert_close(torch.where(expected > 0.5, float("nan"), expected), expected, torch.float32, name="x")


def test_one_large_elementwise_error_fails():
    expected = torch.linspace(-1, 1, 100)
    actual = expected.clone()
    actual[17] += 1e-3
    with pytest.raises(AssertionError, match=r"x: max abs error 1\.000e-03"):
        assert_close(actual, expected, torch.float32, name="x")


def test_an_error_spread_thinly_over_every_element_fails_the_norm_criterion():
    # Every element is off by 0.9 x the elementwise bound; together the relative L2 error is ~2e-4,
    # twice float32's rnorm, so only the norm criterion notices.
    tol = TOLERANCES[torch.float32]
    expected = torch.ones(10_000, dtype=torch.float64)
    actual = expected + 0.9 * (tol.atol + tol.rtol) * torch.where(torch.arange(10_000) % 2 == 0, 1.0, -1.0)
    with pytest.raises(AssertionError, match=r"x: relative L2 error 1\.980e-04 exceeds rnorm"):
        assert_close(actual, expected, torch.float32, name="x")


def test_the_norm_criterion_has_an_absolute_floor_for_near_zero_tensors():
    expected = torch.zeros(10_000)
    assert_close(expected + 1e-6, expected, torch.float32, name="x")  # RMS error 1e-6 < atol


def test_cuda_marker_expression_is_read_like_pytest_reads_it():
    from conftest import cuda_run

    assert cuda_run("cuda") and cuda_run("cuda and not slow") and cuda_run("(cuda)")
    assert not cuda_run("not cuda") and not cuda_run("not slow") and not cuda_run("")
