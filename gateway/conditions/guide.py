"""A short guide to the conditions language, served to agents as an MCP resource."""

GUIDE = """\
# ConnectWise conditions, orderBy and fields

conditions filters list endpoints (GET /service/tickets, /company/companies, ...):

    status/name = "New" and priority/name like "Priority 1%"
    company/identifier in ("AcmeMfg", "Globex") or closedFlag = true
    dateEntered > [2025-01-01T00:00:00Z] and not summary contains "test"
    budgetHours >= 2.5 and owner/identifier != null

- Field paths use '/' to reach into objects: status/name, company/id, board/name.
  Names are the API's JSON names, case-sensitive in spirit: the gateway checks every one
  against the resource's schema and suggests the right name when one is wrong.
- Operators: = != < <= > >=, like (with % and _ wildcards), contains, in (...), not,
  and / or (and binds tighter), parentheses.
- Values: "strings" or 'strings' (backslash escapes), numbers, true, false, null,
  [2025-01-31T00:00:00Z] for dates.
- childConditions filters on child collections: communicationItems/value like "%@acme.com".
- customFieldConditions filters on custom fields: caption = "Region" and value = "West".
- orderBy: "id desc", "company/name asc, id desc".
- fields: "id,summary,status/name" returns only those (smaller, faster answers).
- Paging: page (from 1) and pageSize (1..1000, default 25); large sets may use pageId.
"""
