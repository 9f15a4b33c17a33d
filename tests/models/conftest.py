"""Setup for the reference-model tests.

Their convolutions are tiny, so a second torch thread per pytest worker costs more than it saves:
under ``-n 2`` on two cores each op waited on a descheduled thread (6x slower wall time, measured).
"""

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
