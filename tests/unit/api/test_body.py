"""The body decoder itself: nulls, unknown fields, JSON names, every schema's basics."""

from __future__ import annotations

import pytest

from pincus.api.body import decode, present
from pincus.api.schema import BODIES, InstancePut, InstancesPost, InstanceStatePut
from pincus.base.errors import InvalidArgument


def test_null_is_a_missing_field_and_unknown_fields_are_ignored():
    put = decode(b'{"config": null, "ephemeral": null, "whatever": {"x": [1, 2]}, "description": "d"}', InstancePut)
    assert present(put) == {"description": "d"}
    assert decode(b"", InstanceStatePut) == InstanceStatePut()


def test_present_keeps_json_names_of_nested_structs():
    post = decode(b'{"name": "c1", "source": {"type": "migration", "base-image": "abc", "secrets": {"control": "s"}}}',
                  InstancesPost)
    assert present(post) == {"name": "c1", "source": {"type": "migration", "base-image": "abc",
                                                      "secrets": {"control": "s"}}}


@pytest.mark.parametrize("kind", BODIES, ids=lambda k: k.__name__)
def test_every_body_refuses_a_non_object_and_takes_an_empty_one(kind):
    assert decode(b"{}", kind) == kind()
    with pytest.raises(InvalidArgument, match="Invalid request body: Expected `object`, got `array`"):
        decode(b"[]", kind)
