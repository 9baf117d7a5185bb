"""The built-in provisioning policies, each an ordinary ``scim_gateway`` plugin.

They are registered through the ``scim_gateway`` entry-point group in ``pyproject.toml``,
exactly as a third-party package registers its own, and answer ``trylast`` so that any
other enabled plugin implementing the same hook is asked first.

* :mod:`plugins.attribute_mapping`: which attributes are stored (the seed: userName,
  name.givenName, name.familyName) and how an inbound resource maps onto them;
* :mod:`plugins.uniqueness`: userName must be an email address;
* :mod:`plugins.role_assignment`: roles come only from mapped groups; none by hand
  for SCIM-provisioned users;
* :mod:`plugins.deprovisioning`: disable on ``active: false``, remove on DELETE,
  optional tombstones and clean-up of long-disabled users.
"""
