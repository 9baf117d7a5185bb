"""``tenants.json_text.dumps``: orjson's text where it can, the standard library's where it cannot."""

from __future__ import annotations

import datetime as dt
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from tenants.json_text import dumps

from .scim_strategies import PROPERTY_SETTINGS

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2 ** 63), max_value=2 ** 64 - 1) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)


@settings(PROPERTY_SETTINGS, max_examples=300)
@given(value=JSON_VALUES, sort_keys=st.booleans())
def test_the_text_is_the_standard_librarys_compact_text(value, sort_keys):
    assert dumps(value, sort_keys=sort_keys) == json.dumps(value, ensure_ascii=False, sort_keys=sort_keys,
                                                           separators=(",", ":"))


def test_what_orjson_refuses_is_written_by_the_standard_library():
    huge = {"n": 2 ** 70, "é": "ü"}
    assert dumps(huge) == '{"n":1180591620717411303424,"é":"ü"}'
    assert dumps({"s": "a\ud800"}) == '{"s":"a\ud800"}'  # a lone surrogate, as json.dumps leaves it


def test_default_sees_what_json_has_no_type_for_as_the_standard_library_would():
    value = {"at": dt.datetime(2026, 11, 30, 6, 0, 1, 2000), "day": dt.date(2026, 11, 30)}
    assert dumps(value, default=str) == json.dumps(value, default=str, separators=(",", ":"))
