"""A deterministic, realistic MSP data set for the sandbox.

About 25 companies with sites and contacts, members, three service boards with statuses (two
of them closed statuses) and types, priorities, ~100 service tickets with notes, tasks,
activities and schedule entries, time entries, agreements with additions, invoices, projects,
configurations, opportunities, catalog items and documents with their files. The same seed
always produces the same records and ids (ids start at 1 in every collection), and every
record validates against its generated model.

The tables it is built from are in :mod:`cwm_gateway.sandbox.seed_data`; here each function
builds one part of the data set, in an order that later parts depend on (tickets need boards
and companies). The order also fixes the random sequence: add new parts at the end.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cwm_gateway.paths import API_PREFIX
from cwm_gateway.sandbox.resources import Catalog, make_reference
from cwm_gateway.sandbox.seed_data import (
    ACTIVITIES,
    ADDITIONS,
    AGREEMENT_TYPES,
    AGREEMENTS,
    BOARD_STATUSES,
    BOARD_TYPES,
    BOARDS,
    CATALOG,
    CATALOG_ROWS,
    COMPANIES,
    COMPANY_ROWS,
    COMPANY_STATUSES,
    COMPANY_TYPES,
    CONFIG_TYPES,
    CONFIGURATIONS,
    CONTACT_TITLES,
    CONTACTS,
    DEPARTMENTS,
    DOCUMENTS,
    EPOCH,
    FIRST_NAMES,
    INVOICES,
    LAST_NAMES,
    LOCATIONS,
    MEMBER_ROWS,
    MEMBERS,
    NOTE_TEXTS,
    NOTES,
    OPPORTUNITIES,
    PRIORITIES,
    PROJECTS,
    SCHEDULE_ENTRIES,
    SEED_FILES,
    SEEDED,
    SITES,
    TASKS,
    TICKET_SUMMARIES,
    TICKETS,
    TIME_ENTRIES,
    WORK_ROLES,
    WORK_TYPES,
)
from cwm_gateway.sandbox.store import Store

SEED_VERSION = "2"

Doc = dict[str, Any]
Item = tuple[str, str, Doc]
"""(collection, parent key, document)."""


def _iso(dt: Any) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


class _Builder:
    """Collects documents per (collection, parent) with per-collection ids from 1."""

    def __init__(self, schemas: Mapping[str, Any], rng: random.Random) -> None:
        self.schemas = schemas
        self.rng = rng
        self.items: list[Item] = []
        self.files: list[tuple[int, str, int, str, bytes]] = []
        self.next: dict[str, int] = {}
        self.parents: dict[int, str] = {}

    def add(self, coll: str, doc: Doc, parent: str = "") -> Doc:
        id_ = self.next.get(coll, 1)
        self.next[coll] = id_ + 1
        doc = {"id": id_, **doc}
        when = EPOCH - timedelta(days=self.rng.randint(1, 400), minutes=self.rng.randint(0, 600))
        doc.setdefault(
            "_info",
            {
                "lastUpdated": _iso(when),
                "updatedBy": self.rng.choice(MEMBER_ROWS)[0],
                "dateEntered": _iso(when),
                "enteredBy": "jsmith",
            },
        )
        self.items.append((coll, parent, doc))
        self.parents[id(doc)] = parent
        return doc

    def ref(self, ref_schema: str, coll: str, doc: Mapping[str, Any]) -> Doc:
        path = coll
        for value in self.parents.get(id(doc), "").split("/"):
            path = path.replace("{}", value, 1)
        href = f"{API_PREFIX}{path}/{doc['id']}"
        return make_reference(self.schemas, ref_schema, doc, href)

    def member_ref(self, member: Mapping[str, Any]) -> Doc:
        return self.ref("MemberReference", MEMBERS, member)

    @staticmethod
    def plain(id_: int, name: str) -> Doc:
        return {"id": id_, "name": name}


@dataclass
class _World:
    """Records built so far that later parts refer to."""

    locations: list[Doc] = field(default_factory=list)
    departments: list[Doc] = field(default_factory=list)
    loc_ref: Doc = field(default_factory=dict)
    roles: list[Doc] = field(default_factory=list)
    work_types: list[Doc] = field(default_factory=list)
    members: list[Doc] = field(default_factory=list)
    techs: list[Doc] = field(default_factory=list)
    statuses: list[Doc] = field(default_factory=list)
    ctypes: dict[str, Doc] = field(default_factory=dict)
    priorities: list[Doc] = field(default_factory=list)
    boards: list[Doc] = field(default_factory=list)
    board_statuses: dict[int, list[Doc]] = field(default_factory=dict)
    board_types: dict[int, list[Doc]] = field(default_factory=dict)
    companies: list[Doc] = field(default_factory=list)
    sites: dict[int, list[Doc]] = field(default_factory=dict)
    contacts: dict[int, list[Doc]] = field(default_factory=dict)
    clients: list[Doc] = field(default_factory=list)
    agreement_types: list[Doc] = field(default_factory=list)
    catalog: list[Doc] = field(default_factory=list)
    agreements: list[Doc] = field(default_factory=list)
    tickets: list[Doc] = field(default_factory=list)


def _organisation(b: _Builder, w: _World) -> None:
    """Locations, departments, work roles and types, members."""
    locations = [
        b.add(LOCATIONS, {"name": "Main Office", "structureLevel": b.plain(1, "Location")}),
        b.add(LOCATIONS, {"name": "Remote", "structureLevel": b.plain(1, "Location")}),
    ]
    departments = [
        b.add(DEPARTMENTS, {"identifier": ident, "name": name})
        for ident, name in (
            ("MS", "Managed Services"),
            ("PRJ", "Projects"),
            ("SALES", "Sales"),
            ("ADMIN", "Administration"),
        )
    ]
    loc_ref = b.ref("SystemLocationReference", LOCATIONS, locations[0])
    roles = [
        b.add(WORK_ROLES, {"name": name, "hourlyRate": rate, "inactiveFlag": False})
        for name, rate in (
            ("Engineer", 125.0),
            ("Senior Engineer", 165.0),
            ("Project Manager", 150.0),
            ("Help Desk", 95.0),
        )
    ]
    work_types = [
        b.add(
            WORK_TYPES,
            {"name": name, "billTime": bill, "rateType": "Multiplier", "rate": 1.0,
             "utilizationFlag": True, "inactiveFlag": False},
        )
        for name, bill in (
            ("Remote Support", "Billable"),
            ("Onsite Support", "Billable"),
            ("Project Work", "Billable"),
            ("Admin", "NoCharge"),
        )
    ]  # fmt: skip

    members = []
    for i, (ident, first, last, title, role) in enumerate(MEMBER_ROWS):
        dept = departments[0 if role != 2 else 1]
        members.append(
            b.add(
                MEMBERS,
                {
                    "identifier": ident,
                    "firstName": first,
                    "lastName": last,
                    "title": title,
                    "licenseClass": "F",
                    "hireDate": _iso(datetime(2016 + i % 8, 1 + i, 3, tzinfo=UTC)),
                    "officeEmail": f"{ident}@sandboxmsp.example",
                    "primaryEmail": f"{ident}@sandboxmsp.example",
                    "defaultEmail": "Office",
                    "officePhone": f"555-010{i}",
                    "defaultPhone": "Office",
                    "securityRole": b.plain(
                        1 if i == 0 else 2, "Admin" if i == 0 else "Technician"
                    ),
                    "defaultLocation": loc_ref,
                    "defaultDepartment": b.ref("SystemDepartmentReference", DEPARTMENTS, dept),
                    "workRole": b.ref("WorkRoleReference", WORK_ROLES, roles[role - 1]),
                    "inactiveFlag": False,
                    "dailyCapacity": 8.0,
                    "hourlyCost": 45.0 + 5 * i,
                },
            )
        )
    techs = [m for m in members if m["identifier"] not in ("gpatel", "irossi")]

    w.locations = locations
    w.departments = departments
    w.loc_ref = loc_ref
    w.roles = roles
    w.work_types = work_types
    w.members = members
    w.techs = techs


def _company_setup(b: _Builder, w: _World) -> None:
    """Company statuses and types."""
    statuses = [
        b.add(
            COMPANY_STATUSES,
            {"name": n, "defaultFlag": n == "Active", "inactiveFlag": n != "Active"},
        )
        for n in ("Active", "Inactive", "Not-Approved")
    ]
    ctypes = {
        n: b.add(
            COMPANY_TYPES, {"name": n, "defaultFlag": n == "Client", "vendorFlag": n == "Vendor"}
        )
        for n in ("Client", "Prospect", "Vendor", "Partner", "Owner")
    }

    w.statuses = statuses
    w.ctypes = ctypes


def _service_setup(b: _Builder, w: _World) -> None:
    """Priorities; service boards with their statuses (some closed) and types."""
    departments, loc_ref, members = w.departments, w.loc_ref, w.members
    priorities = [
        b.add(PRIORITIES, {"name": name, "color": color, "level": level, "sortOrder": i + 1,
                           "defaultFlag": level == "Medium"})
        for i, (name, color, level) in enumerate(
            (
                ("Priority 1 - Emergency Response", "Red", "Critical"),
                ("Priority 2 - Quick Response", "Orange", "High"),
                ("Priority 3 - Normal Response", "Yellow", "Medium"),
                ("Priority 4 - Schedule Maintenance", "Green", "Low"),
            )
        )
    ]  # fmt: skip

    boards = []
    board_statuses: dict[int, list[dict[str, Any]]] = {}
    board_types: dict[int, list[dict[str, Any]]] = {}
    for name, dept, project in (
        ("Help Desk", departments[0], False),
        ("Managed Services Alerts", departments[0], False),
        ("Professional Services", departments[1], True),
    ):
        board = b.add(
            BOARDS,
            {
                "name": name,
                "location": loc_ref,
                "department": b.ref("SystemDepartmentReference", DEPARTMENTS, dept),
                "inactiveFlag": False,
                "projectFlag": project,
                "billTime": "Billable",
                "billExpense": "Billable",
                "billProduct": "Billable",
                "dispatchMember": b.member_ref(members[8]),
                "serviceManagerMember": b.member_ref(members[0]),
            },
        )
        boards.append(board)
        bref = b.ref("BoardReference", BOARDS, board)
        parent = str(board["id"])
        board_statuses[board["id"]] = [
            b.add(
                BOARD_STATUSES,
                {"name": s, "board": bref, "sortOrder": i, "displayOnBoard": True,
                 "inactive": False, "closedStatus": s in ("Resolved", "Closed"),
                 "defaultFlag": s == "New",
                 "escalationStatus": esc},
                parent,
            )
            for i, (s, esc) in enumerate(
                (
                    ("New", "NotResponded"),
                    ("In Progress", "Responded"),
                    ("Waiting Customer", "Responded"),
                    ("Scheduled", "ResolutionPlan"),
                    ("Escalated", "Responded"),
                    ("Resolved", "Resolved"),
                    ("Closed", "Resolved"),
                )
            )
        ]  # fmt: skip
        board_types[board["id"]] = [
            b.add(BOARD_TYPES, {"name": t, "category": cat, "board": bref,
                                "defaultFlag": t == "Incident", "inactiveFlag": False}, parent)
            for t, cat in (("Incident", "Reactive"), ("Service Request", "Reactive"),
                           ("Problem", "Reactive"), ("Change", "Proactive"))
        ]  # fmt: skip

    w.priorities = priorities
    w.boards = boards
    w.board_statuses = board_statuses
    w.board_types = board_types


def _companies(b: _Builder, w: _World) -> None:
    """The MSP itself and its clients, with sites and contacts."""
    rng, pick = b.rng, b.rng.choice
    loc_ref, statuses, ctypes = w.loc_ref, w.statuses, w.ctypes
    owner = b.add(
        COMPANIES,
        {
            "identifier": "SandboxMSP",
            "name": "Sandbox MSP",
            "status": b.ref("CompanyStatusReference", COMPANY_STATUSES, statuses[0]),
            "types": [b.ref("CompanyTypeReference", COMPANY_TYPES, ctypes["Owner"])],
            "addressLine1": "100 Main Street",
            "city": "Columbus",
            "state": "OH",
            "zip": "43004",
            "phoneNumber": "555-0100",
            "website": "https://sandboxmsp.example",
            "territory": loc_ref,
            "deletedFlag": False,
        },
    )
    companies = [owner]
    for i, (name, ident, city, state, zip_) in enumerate(COMPANY_ROWS):
        kind = "Vendor" if ident == "Pax8" else ("Prospect" if i % 7 == 6 else "Client")
        status = statuses[1] if i == 11 else statuses[0]
        companies.append(
            b.add(
                COMPANIES,
                {
                    "identifier": ident,
                    "name": name,
                    "status": b.ref("CompanyStatusReference", COMPANY_STATUSES, status),
                    "types": [b.ref("CompanyTypeReference", COMPANY_TYPES, ctypes[kind])],
                    "addressLine1": f"{rng.randint(100, 9999)} {pick(['Oak', 'Main', 'Market', 'Lake', 'Commerce', 'Pine'])} {pick(['St', 'Ave', 'Blvd', 'Dr'])}",
                    "city": city,
                    "state": state,
                    "zip": zip_,
                    "phoneNumber": f"555-{rng.randint(200, 999)}-{rng.randint(1000, 9999)}",
                    "website": f"https://www.{ident.lower()}.example",
                    "territory": loc_ref,
                    "accountNumber": f"C{1000 + i}",
                    "numberOfEmployees": rng.choice([8, 12, 25, 40, 65, 120, 250]),
                    "annualRevenue": float(rng.randint(5, 400) * 100000),
                    "leadFlag": kind == "Prospect",
                    "isVendorFlag": kind == "Vendor",
                    "deletedFlag": False,
                    "dateAcquired": _iso(EPOCH - timedelta(days=rng.randint(60, 3000))),
                },
            )
        )

    sites: dict[int, list[dict[str, Any]]] = {}
    for company in companies:
        cref = b.ref("CompanyReference", COMPANIES, company)
        names = ["Main"] + (["Branch Office"] if rng.random() < 0.35 else [])
        sites[company["id"]] = [
            b.add(
                SITES,
                {
                    "name": n,
                    "addressLine1": company["addressLine1"] if n == "Main" else "12 Side St",
                    "city": company["city"],
                    "zip": company["zip"],
                    "phoneNumber": company["phoneNumber"],
                    "primaryAddressFlag": n == "Main",
                    "defaultBillingFlag": n == "Main",
                    "defaultShippingFlag": n == "Main",
                    "defaultMailingFlag": n == "Main",
                    "inactiveFlag": False,
                    "company": cref,
                },
                str(company["id"]),
            )
            for n in names
        ]
        company["site"] = b.ref("SiteReference", SITES, sites[company["id"]][0])

    contacts: dict[int, list[dict[str, Any]]] = {}
    for company in companies[1:]:
        contacts[company["id"]] = []
        for j in range(rng.randint(2, 4)):
            first, last = pick(FIRST_NAMES), pick(LAST_NAMES)
            domain = company["website"].removeprefix("https://www.")
            contact = b.add(
                CONTACTS,
                {
                    "firstName": first,
                    "lastName": last,
                    "company": b.ref("CompanyReference", COMPANIES, company),
                    "site": company["site"],
                    "title": pick(CONTACT_TITLES),
                    "inactiveFlag": False,
                    "defaultFlag": j == 0,
                    "defaultBillingFlag": j == 0,
                    "defaultPhoneType": "Direct",
                    "defaultPhoneNbr": f"555-{rng.randint(200, 999)}-{rng.randint(1000, 9999)}",
                    "communicationItems": [
                        {
                            "type": b.plain(1, "Email"),
                            "value": f"{first[0].lower()}{last.lower()}@{domain}",
                            "defaultFlag": True,
                            "communicationType": "Email",
                        }
                    ],
                },
            )
            contacts[company["id"]].append(contact)
        company["defaultContact"] = b.ref("ContactReference", CONTACTS, contacts[company["id"]][0])

    clients = [c for c in companies[1:] if c["types"][0]["name"] == "Client"]

    w.companies = companies
    w.sites = sites
    w.contacts = contacts
    w.clients = clients


def _finance(b: _Builder, w: _World) -> None:
    """Agreement types, the product catalog, agreements with additions."""
    rng = b.rng
    departments, loc_ref, contacts, clients = w.departments, w.loc_ref, w.contacts, w.clients
    agreement_types = [
        b.add(
            AGREEMENT_TYPES,
            {"name": n, "employeeCompRate": "Actual", "invoicingCycle": "ContractYear",
             "billTime": bt, "billExpenses": "Billable", "billProducts": "Billable",
             "applicationUnits": units, "defaultFlag": n == "Managed Services",
             "inactiveFlag": False},
        )
        for n, bt, units in (("Managed Services", "NoCharge", "Amount"),
                             ("Block Time", "Billable", "Hours"),
                             ("Break/Fix", "Billable", "Amount"))
    ]  # fmt: skip

    catalog = []
    for i, (ident, desc, ptype, sub, maker, price, cost) in enumerate(CATALOG_ROWS):
        catalog.append(
            b.add(
                CATALOG,
                {
                    "identifier": ident,
                    "description": desc,
                    "customerDescription": desc,
                    "type": b.plain({"Hardware": 1, "Software": 2, "Service": 3}[ptype], ptype),
                    "subcategory": b.plain(10 + i % 9, sub),
                    "category": b.plain({"Hardware": 1, "Software": 2, "Service": 3}[ptype], ptype),
                    "productClass": "Inventory" if ptype == "Hardware" else "NonInventory",
                    "manufacturer": b.plain(100 + i % 13, maker),
                    "price": price,
                    "cost": cost,
                    "taxableFlag": ptype == "Hardware",
                    "inactiveFlag": False,
                    "recurringFlag": ptype != "Hardware",
                    "recurringRevenue": price if ptype != "Hardware" else 0.0,
                    "recurringCost": cost if ptype != "Hardware" else 0.0,
                },
            )
        )
    recurring = [c for c in catalog if c["recurringFlag"]]

    agreements = []
    for i, company in enumerate(clients[:20]):
        atype = agreement_types[0 if i % 4 else (1 + i // 4 % 2)]
        start = EPOCH - timedelta(days=rng.randint(30, 700))
        agreement = b.add(
            AGREEMENTS,
            {
                "name": f"{company['name']} - {atype['name']}",
                "type": b.ref("AgreementTypeReference", AGREEMENT_TYPES, atype),
                "company": b.ref("CompanyReference", COMPANIES, company),
                "contact": b.ref("ContactReference", CONTACTS, contacts[company["id"]][0]),
                "site": company["site"],
                "location": loc_ref,
                "department": b.ref("SystemDepartmentReference", DEPARTMENTS, departments[0]),
                "startDate": _iso(start),
                "noEndingDateFlag": i % 3 != 0,
                **({"endDate": _iso(start + timedelta(days=365))} if i % 3 == 0 else {}),
                "billAmount": float(rng.choice([1500, 2400, 3200, 4800, 6500])),
                "applicationUnits": atype["applicationUnits"],
                "applicationLimit": 20.0 if atype["name"] == "Block Time" else 0.0,
                "applicationUnlimitedFlag": atype["name"] == "Managed Services",
                "agreementStatus": "Active" if i != 7 else "Cancelled",
                "cancelledFlag": i == 7,
                "billTime": atype["billTime"],
                "billExpenses": "Billable",
                "billProducts": "Billable",
                "taxable": False,
            },
        )
        agreements.append(agreement)
        for item in rng.sample(recurring, rng.randint(1, 4)):
            qty = float(rng.choice([1, 5, 10, 15, 25, 40]))
            b.add(
                ADDITIONS,
                {
                    "product": b.ref("IvItemReference", CATALOG, item),
                    "description": item["description"],
                    "quantity": qty,
                    "unitPrice": item["price"],
                    "unitCost": item["cost"],
                    "extPrice": round(qty * item["price"], 2),
                    "extCost": round(qty * item["cost"], 2),
                    "billCustomer": "Billable",
                    "effectiveDate": agreement["startDate"],
                    "taxableFlag": False,
                    "agreementId": agreement["id"],
                    "agreementStatus": "Active",
                },
                str(agreement["id"]),
            )

    w.agreement_types = agreement_types
    w.catalog = catalog
    w.agreements = agreements


def _tickets(b: _Builder, w: _World) -> None:
    """Service tickets with notes and tasks."""
    rng, pick = b.rng, b.rng.choice
    loc_ref, techs, priorities, boards, board_statuses, board_types, contacts, clients = (
        w.loc_ref,
        w.techs,
        w.priorities,
        w.boards,
        w.board_statuses,
        w.board_types,
        w.contacts,
        w.clients,
    )
    tickets = []
    for i in range(100):
        company = clients[i % len(clients)] if i % 9 else pick(clients)
        board = boards[0] if i % 5 else boards[1 + i % 2]
        status = board_statuses[board["id"]][
            rng.choices(range(7), weights=[18, 22, 12, 8, 4, 14, 22])[0]
        ]
        owner_m = pick(techs)
        entered = EPOCH - timedelta(days=rng.randint(0, 120), minutes=rng.randint(0, 1400))
        closed = status["closedStatus"]
        contact = pick(contacts[company["id"]])
        ticket = b.add(
            TICKETS,
            {
                "summary": pick(TICKET_SUMMARIES),
                "recordType": "ServiceTicket",
                "board": b.ref("BoardReference", BOARDS, board),
                "status": b.ref("ServiceStatusReference", BOARD_STATUSES, status),
                "company": b.ref("CompanyReference", COMPANIES, company),
                "site": company["site"],
                "contact": b.ref("ContactReference", CONTACTS, contact),
                "contactName": f"{contact['firstName']} {contact['lastName']}",
                "contactEmailAddress": contact["communicationItems"][0]["value"],
                "type": b.ref(
                    "ServiceTypeReference", BOARD_TYPES, pick(board_types[board["id"]])
                ),
                "priority": b.ref(
                    "PriorityReference", PRIORITIES, rng.choices(priorities, [1, 3, 10, 4])[0]
                ),
                "owner": b.ref("MemberReference", MEMBERS, owner_m),
                "severity": pick(["Low", "Medium", "High"]),
                "impact": pick(["Low", "Medium", "High"]),
                "source": b.plain(pick([1, 2, 3]), pick(["Email", "Phone", "Portal"])),
                "budgetHours": float(rng.choice([0.5, 1, 2, 4])),
                "actualHours": 0.0,
                "closedFlag": closed,
                "approved": True,
                "billTime": "Billable",
                "location": loc_ref,
                "requiredDate": _iso(entered + timedelta(days=rng.randint(1, 10))),
                "_info": {
                    "lastUpdated": _iso(entered + timedelta(hours=rng.randint(1, 72))),
                    "updatedBy": owner_m["identifier"],
                    "dateEntered": _iso(entered),
                    "enteredBy": "hcohen",
                },
                **(
                    {"closedDate": _iso(entered + timedelta(days=rng.randint(1, 5))),
                     "closedBy": owner_m["identifier"]}
                    if closed
                    else {}
                ),
            },
        )  # fmt: skip
        tickets.append(ticket)
        parent = str(ticket["id"])
        for j in range(rng.randint(1, 4)):
            author = owner_m if j else pick(techs)
            b.add(
                NOTES,
                {
                    "ticketId": ticket["id"],
                    "text": NOTE_TEXTS[0] if j == 0 else pick(NOTE_TEXTS),
                    "detailDescriptionFlag": j == 0,
                    "internalAnalysisFlag": j == 2,
                    "resolutionFlag": closed and j > 0,
                    "member": b.ref("MemberReference", MEMBERS, author),
                    "dateCreated": _iso(entered + timedelta(hours=j * 3)),
                    "createdBy": author["identifier"],
                    "internalFlag": j == 2,
                    "externalFlag": j != 2,
                },
                parent,
            )
        for j in range(rng.randint(0, 3)):
            b.add(
                TASKS,
                {
                    "ticketId": ticket["id"],
                    "summary": pick(["Check logs", "Call user", "Order part", "Update docs"]),
                    "notes": "Follow up with the customer.",
                    "closedFlag": closed or j == 0,
                    "priority": j + 1,
                    "member": b.ref("MemberReference", MEMBERS, owner_m),
                },
                parent,
            )

    w.tickets = tickets


def _time_entries(b: _Builder, w: _World) -> None:
    """Time entries charged to tickets."""
    rng, pick = b.rng, b.rng.choice
    roles, work_types, techs, tickets = w.roles, w.work_types, w.techs, w.tickets
    for i in range(150):
        ticket = tickets[i % len(tickets)] if i < 100 else pick(tickets)
        member = pick(techs)
        start = EPOCH - timedelta(days=rng.randint(0, 90), hours=rng.randint(0, 8))
        hours = rng.choice([0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0])
        wtype = work_types[0] if i % 4 else work_types[1]
        ticket["actualHours"] = round(ticket["actualHours"] + hours, 2)
        b.add(
            TIME_ENTRIES,
            {
                "company": ticket["company"],
                "chargeToId": ticket["id"],
                "chargeToType": "ServiceTicket",
                "ticket": b.ref("TicketReference", TICKETS, ticket),
                "member": b.ref("MemberReference", MEMBERS, member),
                "workType": b.ref("WorkTypeReference", WORK_TYPES, wtype),
                "workRole": b.ref("WorkRoleReference", WORK_ROLES, pick(roles)),
                "timeStart": _iso(start),
                "timeEnd": _iso(start + timedelta(hours=hours)),
                "actualHours": hours,
                "hoursBilled": hours,
                "billableOption": "Billable",
                "notes": pick(NOTE_TEXTS),
                "status": pick(["Open", "ApprovedByTierOne", "Billed", "ReadyToBill"]),
                "enteredBy": member["identifier"],
                "dateEntered": _iso(start + timedelta(hours=hours)),
                "hourlyRate": 125.0,
            },
        )


def _invoices(b: _Builder, w: _World) -> None:
    """Invoices."""
    rng = b.rng
    loc_ref, clients = w.loc_ref, w.clients
    for i in range(40):
        company = clients[i % len(clients)]
        date = EPOCH - timedelta(days=15 * (i // len(clients)) + rng.randint(0, 14))
        subtotal = float(rng.randint(4, 120) * 50)
        tax = round(subtotal * 0.07, 2)
        paid = i % 3 == 0
        b.add(
            INVOICES,
            {
                "invoiceNumber": f"INV-{24000 + i}",
                "type": "Agreement" if i % 2 else "Standard",
                "status": {"id": 2 if paid else 1, "name": "Paid" if paid else "Sent",
                           "isClosed": paid},
                "company": b.ref("CompanyReference", COMPANIES, company),
                "billToCompany": b.ref("CompanyReference", COMPANIES, company),
                "billingSite": company["site"],
                "date": _iso(date),
                "dueDate": _iso(date + timedelta(days=30)),
                "subtotal": subtotal,
                "salesTax": tax,
                "total": round(subtotal + tax, 2),
                "payments": round(subtotal + tax, 2) if paid else 0.0,
                "balance": 0.0 if paid else round(subtotal + tax, 2),
                "taxableFlag": True,
                "location": loc_ref,
            },
        )  # fmt: skip


def _projects(b: _Builder, w: _World) -> None:
    """Projects on the project board."""
    rng = b.rng
    loc_ref, members, boards, contacts, clients = (
        w.loc_ref,
        w.members,
        w.boards,
        w.contacts,
        w.clients,
    )
    for i, (name, method) in enumerate(
        (
            ("Microsoft 365 Migration", "FixedFee"),
            ("Firewall Replacement", "FixedFee"),
            ("Office Move", "ActualRates"),
            ("Server Refresh 2025", "NotToExceed"),
            ("Wi-Fi Upgrade", "FixedFee"),
            ("Security Assessment", "FixedFee"),
            ("Backup Modernization", "ActualRates"),
            ("Intune Rollout", "NotToExceed"),
        )
    ):
        company = clients[(i * 3) % len(clients)]
        start = EPOCH - timedelta(days=rng.randint(0, 60))
        b.add(
            PROJECTS,
            {
                "name": f"{company['identifier']} - {name}",
                "billingMethod": method,
                "board": b.ref("ProjectBoardReference", BOARDS, boards[2]),
                "company": b.ref("CompanyReference", COMPANIES, company),
                "contact": b.ref("ContactReference", CONTACTS, contacts[company["id"]][0]),
                "manager": b.member_ref(members[5]),
                "estimatedStart": _iso(start),
                "estimatedEnd": _iso(start + timedelta(days=rng.randint(14, 90))),
                "status": b.plain(1 if i % 4 else 2, "Open" if i % 4 else "In Progress"),
                "budgetHours": float(rng.choice([20, 40, 60, 120])),
                "actualHours": float(rng.randint(0, 30)),
                "percentComplete": float(rng.randint(0, 90)),
                "billTime": "Billable",
                "closedFlag": False,
                "description": f"{name} for {company['name']}.",
                "location": loc_ref,
            },
        )


def _configurations(b: _Builder, w: _World) -> None:
    """Configuration types and configurations."""
    rng = b.rng
    contacts, clients = w.contacts, w.clients
    config_types = {
        n: b.add(CONFIG_TYPES, {"name": n, "inactiveFlag": False, "systemFlag": False})
        for n in ("Workstation", "Server", "Firewall", "Switch", "Printer", "Microsoft 365 Tenant")
    }
    models = {
        "Workstation": ("Dell", "OptiPlex 7020", "Windows 11 Pro"),
        "Server": ("Dell", "PowerEdge R650", "Windows Server 2022"),
        "Firewall": ("Fortinet", "FortiGate 60F", "FortiOS 7.4"),
        "Switch": ("Cisco", "Meraki MS120", ""),
        "Printer": ("HP", "LaserJet M507", ""),
        "Microsoft 365 Tenant": ("Microsoft", "Business Premium", ""),
    }
    for i in range(60):
        company = clients[i % len(clients)]
        kind = (["Workstation"] * 5 + ["Server", "Firewall", "Switch", "Printer",
                 "Microsoft 365 Tenant"])[i % 10]  # fmt: skip
        maker, model, os_ = models[kind]
        b.add(
            CONFIGURATIONS,
            {
                "name": f"{company['identifier'][:6].upper()}-{kind[:3].upper()}-{i:03d}",
                "type": b.ref("ConfigurationTypeReference", CONFIG_TYPES, config_types[kind]),
                "status": b.plain(1, "Active"),
                "company": b.ref("CompanyReference", COMPANIES, company),
                "contact": b.ref("ContactReference", CONTACTS, contacts[company["id"]][0]),
                "site": company["site"],
                "serialNumber": f"SN{rng.randint(10**7, 10**8 - 1)}",
                "modelNumber": model,
                "manufacturer": b.plain(100 + i % 5, maker),
                "ipAddress": f"10.{i % 20}.{rng.randint(0, 9)}.{rng.randint(2, 254)}",
                "osType": os_,
                "purchaseDate": _iso(EPOCH - timedelta(days=rng.randint(100, 1500))),
                "warrantyExpirationDate": _iso(EPOCH + timedelta(days=rng.randint(-200, 900))),
                "activeFlag": True,
                "billFlag": False,
            },
        )


def _opportunities(b: _Builder, w: _World) -> None:
    """Sales opportunities."""
    rng, pick = b.rng, b.rng.choice
    members, companies, contacts = w.members, w.companies, w.contacts
    for i in range(20):
        company = pick(companies[1:])
        rep = members[7] if i % 3 else members[9]
        status_name = ["Open", "Open", "Won", "Lost"][i % 4]
        b.add(
            OPPORTUNITIES,
            {
                "name": f"{company['identifier']} - "
                + pick(["Laptop refresh", "Managed services", "Firewall upgrade",
                        "M365 licensing", "Backup expansion", "Security bundle"]),
                "primarySalesRep": b.member_ref(rep),
                "company": b.ref("CompanyReference", COMPANIES, company),
                "contact": b.ref("ContactReference", CONTACTS, contacts[company["id"]][0]),
                "site": company["site"],
                "expectedCloseDate": _iso(EPOCH + timedelta(days=rng.randint(-30, 120))),
                "stage": b.plain(1 + i % 4, ["Prospect", "Qualified", "Proposal", "Negotiation"][i % 4]),
                "status": b.plain(1 + ["Open", "Won", "Lost"].index(status_name), status_name),
                "probability": b.plain(1 + i % 5, f"{[10, 25, 50, 75, 90][i % 5]}%"),
                "type": b.plain(1 + i % 2, ["New Business", "Existing Client"][i % 2]),
                "source": pick(["Referral", "Website", "Existing customer", "Event"]),
                "notes": "Discussed scope on the last call.",
            },
        )  # fmt: skip


def _activities(b: _Builder, w: _World) -> None:
    """Follow-up activities on every fourth ticket."""
    rng, pick = b.rng, b.rng.choice
    for ticket in w.tickets[::4]:
        start = EPOCH - timedelta(days=rng.randint(0, 30), hours=rng.randint(0, 8))
        member = pick(w.techs)
        b.add(
            ACTIVITIES,
            {
                "name": f"Follow up: {ticket['summary']}"[:100],
                "type": b.plain(1, "Call"),
                "company": ticket["company"],
                "contact": ticket["contact"],
                "status": b.plain(1 if rng.random() < 0.6 else 2, "Open"),
                "ticket": b.ref("TicketReference", TICKETS, ticket),
                "assignTo": b.member_ref(member),
                "assignedBy": b.member_ref(w.members[0]),
                "dateStart": _iso(start),
                "dateEnd": _iso(start + timedelta(minutes=30)),
                "notes": "Check that the fix held.",
            },
        )


def _schedule_entries(b: _Builder, w: _World) -> None:
    """Schedule entries for the tickets in a "Scheduled" status."""
    rng = b.rng
    for ticket in w.tickets:
        if ticket["status"].get("name") != "Scheduled":
            continue
        start = EPOCH + timedelta(days=rng.randint(1, 10), hours=rng.randint(0, 6))
        owner = next(m for m in w.members if m["identifier"] == ticket["owner"]["identifier"])
        b.add(
            SCHEDULE_ENTRIES,
            {
                "objectId": ticket["id"],
                "name": ticket["summary"],
                "member": b.member_ref(owner),
                "type": {"id": 4, "identifier": "S"},
                "dateStart": _iso(start),
                "dateEnd": _iso(start + timedelta(hours=1)),
                "hours": 1.0,
                "doneFlag": False,
                "acknowledgedFlag": False,
                "ownerFlag": True,
            },
        )


def _documents(b: _Builder, w: _World) -> None:
    """Documents attached to records, with their bytes."""
    for record_type, record_id, file_name, media_type, data in SEED_FILES:
        doc = b.add(
            DOCUMENTS,
            {
                "title": file_name,
                "fileName": file_name,
                "serverFileName": f"seed-{file_name}",
                "owner": "jsmith",
                "linkFlag": False,
                "imageFlag": media_type.startswith("image/"),
                "publicFlag": True,
                "htmlTemplateFlag": False,
                "readOnlyFlag": False,
                "size": len(data),
                "urlFlag": False,
                "createdOnDate": _iso(EPOCH),
            },
        )
        b.files.append((doc["id"], record_type, record_id, media_type, data))


_PARTS = (
    _organisation,
    _company_setup,
    _service_setup,
    _companies,
    _finance,
    _tickets,
    _time_entries,
    _invoices,
    _projects,
    _configurations,
    _opportunities,
    _activities,
    _schedule_entries,
    _documents,
)


def _build(schemas: Mapping[str, Any], seed: int) -> _Builder:
    b = _Builder(schemas, random.Random(seed))
    world = _World()
    for part in _PARTS:
        part(b, world)
    return b


def build_seed(schemas: Mapping[str, Any], seed: int) -> list[Item]:
    """All seed documents as (collection, parent key, document), ids assigned."""
    return _build(schemas, seed).items


def ensure_seeded(
    store: Store, catalog: Catalog, schemas: Mapping[str, Any], seed: int
) -> frozenset[str]:
    """Seed ``store`` once (a reopened file keeps its data); returns the seeded collections.

    Collections that the registry does not know (a different spec) are left out.
    """
    seeded = frozenset(k for k in SEEDED if k in catalog.collections)
    if store.get_meta("seed") is None:
        built = _build(schemas, seed)
        store.bulk_insert([item for item in built.items if item[0] in seeded])
        if DOCUMENTS in seeded:
            for file in built.files:
                store.put_file(*file)
        store.set_meta("seed", f"{SEED_VERSION}:{seed}")
    return seeded
