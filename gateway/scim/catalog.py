"""The attribute catalogue: every attribute of RFC 7643's User and Group schemas and the
enterprise User extension, with their characteristics.

Inbound resources are read against the whole catalogue, so a mapping plugin sees
everything a client sent that SCIM defines; what a tenant *stores* is the subset its
mapping plugin declares (:func:`restrict`). ``password`` is deliberately absent: the
gateway never stores or relays credentials. ``groups`` on User is absent too: group
membership is managed from the Group side, as Entra and Okta do.
"""

from __future__ import annotations

from dataclasses import replace

from .schema import COLUMN_LENGTH, ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA, Attribute, Schema

A = Attribute
EMAIL_LENGTH = 254  # RFC 5321 §4.5.3.1.3: the longest forward-path holds 254 characters of address


def _multi(name: str, description: str, value_type: str = "string", extra: tuple[Attribute, ...] = (),
           reference_types: tuple[str, ...] = (), max_length: int | None = None) -> Attribute:
    """An RFC 7643 §2.4 multi-valued attribute with value/display/type/primary."""
    value = A("value", type=value_type, description=f"The {name} value.", reference_types=reference_types,
              max_length=max_length)
    return A(
        name,
        type="complex",
        multi_valued=True,
        description=description,
        sub_attributes=(
            value,
            *extra,
            A("display", description="A human-readable name, primarily used for display purposes."),
            A("type", description="A label indicating the attribute's function, e.g. 'work' or 'home'."),
            A("primary", type="boolean", description="Indicates the primary or preferred value."),
        ),
    )


ADDRESS_PARTS = (
    A("formatted", description="The full mailing address, formatted for display."),
    A("streetAddress", description="The full street address component."),
    A("locality", description="The city or locality component."),
    A("region", description="The state or region component."),
    A("postalCode", description="The zip code or postal code component."),
    A("country", description="The country name component (ISO 3166-1 alpha-2)."),
)

USER_CATALOG = Schema(
    id=USER_SCHEMA,
    name="User",
    description="User Account",
    attributes=(
        A("userName", required=True, uniqueness="server", max_length=COLUMN_LENGTH, profile="identifier",
          description="Unique identifier for the User, unique in the tenant regardless of case and "
                      "Unicode normalization; control, invisible and compatibility characters are refused."),
        A("name", type="complex", description="The components of the user's real name.", sub_attributes=(
            A("formatted", description="The full name, formatted for display."),
            A("familyName", description="The family name of the User.", max_length=COLUMN_LENGTH),
            A("givenName", description="The given name of the User.", max_length=COLUMN_LENGTH),
            A("middleName", description="The middle name(s) of the User."),
            A("honorificPrefix", description="The honorific prefix(es) of the User."),
            A("honorificSuffix", description="The honorific suffix(es) of the User."),
        )),
        A("displayName", description="The name of the User, suitable for display to end-users."),
        A("nickName", description="The casual way to address the user."),
        A("profileUrl", type="reference", reference_types=("external",),
          description="A fully qualified URL pointing to a page representing the User's online profile."),
        A("title", description="The user's title, such as 'Vice President'."),
        A("userType", description="Used to identify the relationship between the organization and the user."),
        A("preferredLanguage", description="The User's preferred written or spoken language."),
        A("locale", description="The User's default location for localization."),
        A("timezone", description="The User's time zone in the IANA Time Zone database format."),
        A("active", type="boolean", description="The User's administrative status; false disables the user."),
        _multi("emails", "Email addresses for the user.", max_length=EMAIL_LENGTH),
        _multi("phoneNumbers", "Phone numbers for the User."),
        _multi("ims", "Instant messaging addresses for the User."),
        _multi("photos", "URLs of photos of the User.", "reference", reference_types=("external",)),
        A("addresses", type="complex", multi_valued=True, description="A physical mailing address for this User.",
          sub_attributes=(*ADDRESS_PARTS,
                          A("type", description="A label indicating the address' function, e.g. 'work'."),
                          A("primary", type="boolean", description="Indicates the primary address."))),
        _multi("entitlements", "A list of entitlements for the User."),
        _multi("roles", "A list of roles for the User, as the client knows them."),
        _multi("x509Certificates", "A list of certificates issued to the User.", "binary"),
    ),
)

ENTERPRISE_USER_CATALOG = Schema(
    id=ENTERPRISE_USER_SCHEMA,
    name="EnterpriseUser",
    description="Enterprise User",
    attributes=(
        A("employeeNumber", description="A string identifier assigned by the organization."),
        A("costCenter", description="Identifies the name of a cost center."),
        A("organization", description="Identifies the name of an organization."),
        A("division", description="Identifies the name of a division."),
        A("department", description="Identifies the name of a department."),
        A("manager", type="complex", description="The User's manager.", sub_attributes=(
            A("value", description="The id of the SCIM resource representing the User's manager."),
            A("$ref", type="reference", reference_types=("User",), description="The URI of the manager."),
            A("displayName", mutability="readOnly", description="The displayName of the User's manager."),
        )),
    ),
)

MEMBERS = A(
    "members",
    type="complex",
    multi_valued=True,
    description="The members of the Group (users only; nested groups are not supported).",
    sub_attributes=(
        A("value", mutability="immutable", description="Identifier of the member User.",
          max_length=COLUMN_LENGTH),
        A("$ref", type="reference", mutability="immutable", reference_types=("User",),
          description="The URI of the member User."),
        A("display", mutability="immutable", max_length=COLUMN_LENGTH,
          description="A human-readable name for the member: as the client sent it, else the member's userName."),
        A("type", mutability="immutable", canonical_values=("User",),
          description="The type of the member: always 'User'."),
    ),
)

GROUP_CATALOG = Schema(
    id=GROUP_SCHEMA,
    name="Group",
    description="Group",
    attributes=(
        A("displayName", required=True, uniqueness="server", max_length=COLUMN_LENGTH, profile="free-form",
          description="A human-readable name for the Group, unique in the tenant regardless of case and "
                      "Unicode normalization; control and invisible characters are refused."),
        MEMBERS,
    ),
)

EXTENSIONS = {
    "User": (ENTERPRISE_USER_CATALOG,),
    "Group": (),
}


def restrict(schema: Schema, paths: set[str], description: str | None = None) -> Schema | None:
    """``schema`` keeping only the attributes named by ``paths`` (lower-cased).

    A path is ``attr`` (the whole attribute) or ``attr.sub`` (that sub-attribute of a
    single-valued complex attribute). Returns ``None`` when nothing of the schema is kept.
    """
    kept = []
    for attribute in schema.attributes:
        if attribute.key in paths:
            kept.append(attribute)
            continue
        subs = tuple(sub for sub in attribute.sub_attributes if f"{attribute.key}.{sub.key}" in paths)
        if subs:
            kept.append(replace(attribute, sub_attributes=subs))
    if not kept:
        return None
    return Schema(id=schema.id, name=schema.name, description=description or schema.description,
                  attributes=tuple(kept))
