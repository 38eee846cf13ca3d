"""schemathesis against a real ``relayroom serve``: the console API as the admin and as another account's
owner, and the TRTC cloud API; a few cases per operation here (FUZZ_API_EXAMPLES, default 4),
many more in ``make fuzz``."""

from __future__ import annotations

import os

import pytest

from tests.fuzz.api import SUITES, run_suite

pytestmark = [pytest.mark.timeout(900), pytest.mark.slow]


@pytest.mark.parametrize("suite", list(SUITES))
def test_api_fuzzing_finds_no_server_error_schema_violation_or_cross_account_data(suite: str) -> None:
    examples = int(os.environ.get("FUZZ_API_EXAMPLES", "4"))
    result, logged = run_suite(suite, examples)
    assert result.cases > result.operations, result  # it really sent requests
    assert not result.failures, "\n".join(str(f) for f in result.failures)
    assert not logged, "\n".join(logged[:10])
