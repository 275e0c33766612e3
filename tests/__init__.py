"""Shopwright's tests. Shared helpers live in tests/factories/ and tests/support/, never in test modules."""

import pytest

# Their asserts explain a failure the way a test's own do (pytest rewrites only test modules by default).
pytest.register_assert_rewrite("tests.factories", "tests.support")
