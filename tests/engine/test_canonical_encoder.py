"""The canonical JSON that every hash is taken over: orjson's bytes must be the reference encoder's, byte for
byte, for every value a record can hold, or new records would not verify against the documented form."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.canonical import canonical_bytes, canonical_text

# Every code point but lone surrogates (which no encoder can write as UTF-8), control characters, quotes,
# backslashes, line and paragraph separators, CJK and emoji included.
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
KEYS = st.one_of(TEXT, st.sampled_from(["a", "B", "é", "中", "😀", "\x00", "\u2028", "a\u0301", "Z"]))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**64 - 1), TEXT)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                      st.dictionaries(KEYS, inner, max_size=5)), max_leaves=30)


def reference(value: object) -> bytes:
    """The form engine/canonical.py's docstring gives a verifier."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@settings(max_examples=200, deadline=None)
@given(VALUES)
def test_the_fast_encoder_writes_the_reference_bytes(value):
    assert canonical_bytes(value) == reference(value)
    assert canonical_text(value) == reference(value).decode("utf-8")


@pytest.mark.parametrize("value", [2**64, -(2**63) - 1, 10**40, {"n": [2**70]}, [[[[[[[[[[1]]]]]]]]]] * 3,
                                   json.loads("[" * 300 + "]" * 300)], ids=["2**64", "below -2**63", "10**40",
                                                                          "nested big int", "nested", "300 deep"])
def test_what_orjson_refuses_is_written_by_the_reference_encoder(value):
    assert canonical_bytes(value) == reference(value)
    assert canonical_text(value) == reference(value).decode("utf-8")


def test_keys_sort_by_code_point_past_the_basic_plane():
    # UTF-16 order would put the emoji (a surrogate pair) before U+FFFF and U+E000; code points put it last.
    value = {"\uffff": 1, "😀": 2, "\ue000": 3, "a": 4}
    assert canonical_bytes(value) == reference(value) == '{"a":4,"\ue000":3,"\uffff":1,"😀":2}'.encode()


def test_floats_and_lone_surrogates_are_still_refused():
    with pytest.raises(TypeError, match="floats"):
        canonical_bytes({"x": 1.5})
    with pytest.raises(UnicodeEncodeError):
        canonical_bytes({"comment": "\ud800"})
