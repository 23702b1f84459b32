"""pytest set-up shared by every test module."""

import pytest

# the naive references (tests/naive.py) check with assert: let pytest explain their failures too
pytest.register_assert_rewrite("naive")
