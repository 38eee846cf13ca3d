from __future__ import annotations

import json
import logging

from relayroom.logs import JsonFormatter


def test_log_lines_redact_secrets_by_key_and_shape() -> None:
    key = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
    sig = (
        "eJyrVgrxCdYrSy1SslJQMtIzUNJRAItkpqTmlWSmZUIkKjIT87NK82CSxSnZiQUFmSlAKUMTAyiAyqVWFGQWpQJlLMxM4IIlmbkg"
        "IUNzNMXFmekg44P93EzccsOcA0qT8yOKnfwLksLcjNPcnNNMzb0Ccg1Sq6IMs1LDPH1ywpJtlWoBk68y0A__"
    )
    rec = logging.LogRecord("t", logging.INFO, __file__, 1, "oops %s %s", (key, sig), None)
    rec.__dict__["userSig"] = sig
    rec.__dict__["sdkappid"] = 1400000000
    out = JsonFormatter().format(rec)
    assert key not in out and sig not in out
    doc = json.loads(out)
    assert doc["userSig"] == "[redacted]" and doc["sdkappid"] == 1400000000
