"""python -m tests.fuzz: see :mod:`tests.fuzz`."""

import sys

from tests.fuzz.runner import main

main()
sys.stdout.flush()
