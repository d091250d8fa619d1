"""Builders of entity metadata in the Dataverse metadata Web API's own JSON shape.

The shipped catalog and `w365 provision` write the same shapes (EntityMetadata, the
*AttributeMetadata types, EntityKeyMetadata, OneToManyRelationshipMetadata) that
`POST EntityDefinitions`, `…/Attributes`, `…/Keys` and `POST RelationshipDefinitions` take.
"""

from __future__ import annotations

from typing import Any, Mapping

CRM = "Microsoft.Dynamics.CRM."


def label(text: str) -> dict[str, Any]:
    """A `Label` with one en-US (1033) localized label."""
    localized = {"@odata.type": CRM + "LocalizedLabel", "Label": text, "LanguageCode": 1033}
    return {
        "@odata.type": CRM + "Label",
        "LocalizedLabels": [localized],
        "UserLocalizedLabel": dict(localized),
    }


def _title(logical: str) -> str:
    return logical.split("_", 1)[-1].replace("_", " ").title()


def attribute(
    kind: str, attribute_type: str, schema: str, *, display: str | None = None, **extra: Any
) -> dict[str, Any]:
    """An `<kind>AttributeMetadata` with the properties every attribute has."""
    return {
        "@odata.type": f"{CRM}{kind}AttributeMetadata",
        "AttributeType": attribute_type,
        "AttributeTypeName": {"Value": f"{attribute_type}Type"},
        "SchemaName": schema,
        "DisplayName": label(display or _title(schema.lower())),
        "RequiredLevel": {"Value": "None", "CanBeChanged": True,
                          "ManagedPropertyLogicalName": "canmodifyrequirementlevelsettings"},
        **extra,
    }


def string(schema: str, max_length: int = 100, *, primary: bool = False, **extra: Any) -> dict:
    """A single line of text (`StringAttributeMetadata`)."""
    return attribute("String", "String", schema, MaxLength=max_length, FormatName={"Value": "Text"},
                     IsPrimaryName=primary, **extra)


def memo(schema: str, max_length: int = 1_048_576, **extra: Any) -> dict:
    """Multiple lines of text (`MemoAttributeMetadata`)."""
    return attribute("Memo", "Memo", schema, MaxLength=max_length, Format="TextArea", **extra)


def integer(schema: str, **extra: Any) -> dict:
    """A whole number (`IntegerAttributeMetadata`)."""
    return attribute("Integer", "Integer", schema, Format="None", MinValue=-2147483648,
                     MaxValue=2147483647, **extra)


def decimal(schema: str, precision: int = 10, **extra: Any) -> dict:
    """A decimal number (`DecimalAttributeMetadata`)."""
    return attribute("Decimal", "Decimal", schema, Precision=precision,
                     MinValue=-100000000000, MaxValue=100000000000, **extra)


def money(schema: str, precision: int = 4, **extra: Any) -> dict:
    """A currency amount (`MoneyAttributeMetadata`)."""
    return attribute("Money", "Money", schema, Precision=precision, PrecisionSource=2,
                     MinValue=-922337203685477, MaxValue=922337203685477, **extra)


def boolean(schema: str, default: bool = False, **extra: Any) -> dict:
    """Yes/No (`BooleanAttributeMetadata` with its two options)."""
    return attribute(
        "Boolean", "Boolean", schema, DefaultValue=default,
        OptionSet={"@odata.type": CRM + "BooleanOptionSetMetadata", "OptionSetType": "Boolean",
                   "TrueOption": {"Value": 1, "Label": label("Yes")},
                   "FalseOption": {"Value": 0, "Label": label("No")}},
        **extra,
    )


def date_only(schema: str, **extra: Any) -> dict:
    """A date without time (`DateTimeAttributeMetadata`, format and behaviour DateOnly)."""
    return attribute("DateTime", "DateTime", schema, Format="DateOnly",
                     DateTimeBehavior={"Value": "DateOnly"}, **extra)


def date_time(schema: str, **extra: Any) -> dict:
    """A UTC date and time (`DateTimeAttributeMetadata`, behaviour UserLocal)."""
    return attribute("DateTime", "DateTime", schema, Format="DateAndTime",
                     DateTimeBehavior={"Value": "UserLocal"}, **extra)


def options(values: Mapping[int, str], kind: str = "Picklist") -> dict[str, Any]:
    """A local `OptionSetMetadata`."""
    return {
        "@odata.type": CRM + "OptionSetMetadata",
        "IsGlobal": False,
        "OptionSetType": kind,
        "Options": [{"Value": v, "Label": label(text)} for v, text in values.items()],
    }


def picklist(schema: str, values: Mapping[int, str], default: int | None = None, **extra: Any) -> dict:
    """A choice (`PicklistAttributeMetadata` with a local option set)."""
    return attribute("Picklist", "Picklist", schema, OptionSet=options(values),
                     DefaultFormValue=-1 if default is None else default, **extra)


def state(values: Mapping[int, str]) -> dict:
    """`statecode` (`StateAttributeMetadata`)."""
    return attribute("State", "State", "statecode", display="Status", OptionSet=options(values, "State"),
                     DefaultFormValue=0)


def status(values: Mapping[int, str]) -> dict:
    """`statuscode` (`StatusAttributeMetadata`)."""
    return attribute("Status", "Status", "statuscode", display="Status Reason",
                     OptionSet=options(values, "Status"), DefaultFormValue=1)


def uniqueidentifier(schema: str, *, primary: bool = False, **extra: Any) -> dict:
    """A GUID column (`UniqueIdentifierAttributeMetadata`); the primary id when `primary`."""
    return attribute("UniqueIdentifier", "Uniqueidentifier", schema, IsPrimaryId=primary, **extra)


def lookup(schema: str, targets: list[str], **extra: Any) -> dict:
    """A lookup (`LookupAttributeMetadata`) to the tables `targets` (logical names)."""
    return attribute("Lookup", "Lookup", schema, Targets=list(targets), **extra)


def key(schema: str, attributes: list[str]) -> dict[str, Any]:
    """An alternate key (`EntityKeyMetadata`) over column logical names."""
    return {"@odata.type": CRM + "EntityKeyMetadata", "SchemaName": schema,
            "DisplayName": label(schema), "KeyAttributes": list(attributes)}


def one_to_many(
    schema: str,
    referenced: str,
    referencing: str,
    lookup_attribute: dict[str, Any],
    *,
    referenced_attribute: str | None = None,
    delete: str = "RemoveLink",
    referenced_nav: str | None = None,
    referencing_nav: str | None = None,
) -> dict[str, Any]:
    """A `OneToManyRelationshipMetadata` that creates `lookup_attribute` on `referencing`."""
    body: dict[str, Any] = {
        "@odata.type": CRM + "OneToManyRelationshipMetadata",
        "SchemaName": schema,
        "ReferencedEntity": referenced,
        "ReferencedAttribute": referenced_attribute or f"{referenced}id",
        "ReferencingEntity": referencing,
        "CascadeConfiguration": {
            "Assign": "NoCascade", "Delete": delete, "Merge": "NoCascade",
            "Reparent": "NoCascade", "Share": "NoCascade", "Unshare": "NoCascade",
        },
        "Lookup": lookup_attribute,
    }
    if referenced_nav:
        body["ReferencedEntityNavigationPropertyName"] = referenced_nav
    if referencing_nav:
        body["ReferencingEntityNavigationPropertyName"] = referencing_nav
    return body


def entity(
    schema: str,
    entity_set: str,
    attributes: list[dict[str, Any]],
    *,
    display: str | None = None,
    plural: str | None = None,
    ownership: str = "UserOwned",
) -> dict[str, Any]:
    """An `EntityMetadata` to POST to `EntityDefinitions` (its primary name among `attributes`)."""
    display = display or _title(schema.lower())
    return {
        "@odata.type": CRM + "EntityMetadata",
        "SchemaName": schema,
        "EntitySetName": entity_set,
        "DisplayName": label(display),
        "DisplayCollectionName": label(plural or display + "s"),
        "Description": label(display),
        "OwnershipType": ownership,
        "IsActivity": False,
        "HasActivities": False,
        "HasNotes": False,
        "Attributes": attributes,
    }
