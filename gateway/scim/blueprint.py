"""flask-smorest's Blueprint for the SCIM API, whose documenting decorators add no layer.

flask-smorest's ``doc`` and ``alt_response`` record a view's OpenAPI documentation
(``_apidoc``, what the blueprint reads when it registers the view) on a wrapper whose only
work is to call the view through ``current_app.ensure_sync``: a SCIM view had a few such
layers, each run on every request. :class:`ScimBlueprint` keeps what they record and
returns the view itself. ``arguments`` and ``response``, which do work when a request
comes, are flask-smorest's own (the SCIM views use neither).
"""

from __future__ import annotations

from typing import Callable

from flask_smorest import Blueprint


def _record_only(decorator: Callable) -> Callable:
    """``decorator`` (a documenting one) for the ``_apidoc`` it records, on the view itself."""

    def apply(function):
        function._apidoc = decorator(function)._apidoc  # a deep copy, extended: nothing shared
        return function

    return apply


class ScimBlueprint(Blueprint):
    """A flask-smorest Blueprint whose ``doc`` and ``alt_response`` leave no wrapper."""

    def doc(self, **kwargs):
        """flask-smorest's ``doc``, recorded on the view without a wrapper."""
        return _record_only(super().doc(**kwargs))

    def alt_response(self, status_code, **kwargs):
        """flask-smorest's ``alt_response``, recorded on the view without a wrapper."""
        return _record_only(super().alt_response(status_code, **kwargs))
