"""A deterministic, realistic MSP data set for the sandbox.

About 25 companies with sites and contacts, members, three service boards with statuses and
types, priorities, ~100 service tickets with notes and tasks, time entries, agreements with
additions, invoices, projects, configurations, opportunities and catalog items. The same seed
always produces the same records and ids (ids start at 1 in every collection), and every
record validates against its generated model.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from cwm_gateway.sandbox.resources import Catalog, make_reference
from cwm_gateway.sandbox.store import Store

API_PREFIX = "/v4_6_release/apis/3.0"
SEED_VERSION = "1"

LOCATIONS = "/system/locations"
DEPARTMENTS = "/system/departments"
MEMBERS = "/system/members"
WORK_ROLES = "/time/workRoles"
WORK_TYPES = "/time/workTypes"
COMPANY_STATUSES = "/company/companies/statuses"
COMPANY_TYPES = "/company/companies/types"
COMPANIES = "/company/companies"
SITES = "/company/companies/{}/sites"
CONTACTS = "/company/contacts"
PRIORITIES = "/service/priorities"
BOARDS = "/service/boards"
BOARD_STATUSES = "/service/boards/{}/statuses"
BOARD_TYPES = "/service/boards/{}/types"
TICKETS = "/service/tickets"
NOTES = "/service/tickets/{}/notes"
TASKS = "/service/tickets/{}/tasks"
TIME_ENTRIES = "/time/entries"
AGREEMENT_TYPES = "/finance/agreements/types"
AGREEMENTS = "/finance/agreements"
ADDITIONS = "/finance/agreements/{}/additions"
INVOICES = "/finance/invoices"
PROJECTS = "/project/projects"
CONFIG_TYPES = "/company/configurations/types"
CONFIGURATIONS = "/company/configurations"
OPPORTUNITIES = "/sales/opportunities"
CATALOG = "/procurement/catalog"

#: Collections this module fills; the sandbox never adds sample records to them.
SEEDED = frozenset(
    {
        LOCATIONS, DEPARTMENTS, MEMBERS, WORK_ROLES, WORK_TYPES, COMPANY_STATUSES,
        COMPANY_TYPES, COMPANIES, SITES, CONTACTS, PRIORITIES, BOARDS, BOARD_STATUSES,
        BOARD_TYPES, TICKETS, NOTES, TASKS, TIME_ENTRIES, AGREEMENT_TYPES, AGREEMENTS,
        ADDITIONS, INVOICES, PROJECTS, CONFIG_TYPES, CONFIGURATIONS, OPPORTUNITIES, CATALOG,
    }
)  # fmt: skip

_EPOCH = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)

_COMPANIES = [
    ("Acme Manufacturing", "AcmeMfg", "Dayton", "OH", "45402"),
    ("Blue Ridge Dental Group", "BlueRidgeDental", "Asheville", "NC", "28801"),
    ("Cascade Legal Partners", "CascadeLegal", "Portland", "OR", "97204"),
    ("Delta Freight Logistics", "DeltaFreight", "Memphis", "TN", "38103"),
    ("Evergreen Accounting", "EvergreenCPA", "Tacoma", "WA", "98402"),
    ("Falcon Aerospace Supply", "FalconAero", "Wichita", "KS", "67202"),
    ("Granite State Insurance", "GraniteIns", "Manchester", "NH", "03101"),
    ("Harbor View Medical", "HarborViewMed", "San Diego", "CA", "92101"),
    ("Ironwood Construction", "IronwoodCon", "Phoenix", "AZ", "85004"),
    ("Juniper Creek Winery", "JuniperCreek", "Napa", "CA", "94559"),
    ("Keystone Property Management", "KeystonePM", "Harrisburg", "PA", "17101"),
    ("Lakeside Veterinary Clinic", "LakesideVet", "Madison", "WI", "53703"),
    ("Metro Credit Union", "MetroCU", "Columbus", "OH", "43215"),
    ("Northwind Traders", "Northwind", "Seattle", "WA", "98101"),
    ("Orchard Hill School District", "OrchardHillSD", "Lansing", "MI", "48933"),
    ("Pinnacle Engineering", "PinnacleEng", "Denver", "CO", "80202"),
    ("Quarry Stone Realty", "QuarryRealty", "Austin", "TX", "78701"),
    ("Riverbend Hospitality", "RiverbendHosp", "Savannah", "GA", "31401"),
    ("Summit Outdoor Gear", "SummitGear", "Boulder", "CO", "80302"),
    ("Tidewater Marine Services", "TidewaterMarine", "Norfolk", "VA", "23510"),
    ("Union Square Architects", "UnionSqArch", "San Francisco", "CA", "94108"),
    ("Valley Fresh Grocers", "ValleyFresh", "Fresno", "CA", "93721"),
    ("Westbrook Financial Advisors", "WestbrookFA", "Hartford", "CT", "06103"),
    ("Pax8", "Pax8", "Greenwood Village", "CO", "80111"),
]

_FIRST = [
    "James", "Maria", "Robert", "Linda", "Michael", "Patricia", "David", "Jennifer", "Daniel",
    "Elizabeth", "Thomas", "Susan", "Kevin", "Karen", "Brian", "Nancy", "Jason", "Lisa", "Ryan",
    "Angela", "Eric", "Rachel", "Steven", "Megan", "Andrew", "Laura", "Joshua", "Emily",
]  # fmt: skip
_LAST = [
    "Anderson", "Brooks", "Carter", "Diaz", "Ellis", "Foster", "Garcia", "Hughes", "Iverson",
    "Jensen", "Kim", "Lopez", "Morgan", "Nguyen", "Owens", "Patel", "Quinn", "Reyes", "Shah",
    "Turner", "Underwood", "Vasquez", "Walsh", "Young",
]  # fmt: skip
_TITLES = [
    "Office Manager",
    "Controller",
    "Owner",
    "IT Coordinator",
    "Operations Director",
    "Receptionist",
    "Practice Manager",
    "CFO",
    "Staff Accountant",
    "HR Manager",
]

_MEMBERS = [
    ("jsmith", "John", "Smith", "Service Manager", 1),
    ("akhan", "Aisha", "Khan", "Senior Engineer", 1),
    ("bwilson", "Ben", "Wilson", "Help Desk Technician", 3),
    ("cmartinez", "Carla", "Martinez", "Help Desk Technician", 3),
    ("dlee", "Derek", "Lee", "Network Engineer", 1),
    ("ebrown", "Emma", "Brown", "Project Manager", 2),
    ("fnguyen", "Felix", "Nguyen", "Systems Engineer", 1),
    ("gpatel", "Grace", "Patel", "Account Manager", 3),
    ("hcohen", "Hannah", "Cohen", "Dispatcher", 3),
    ("irossi", "Ivan", "Rossi", "vCIO", 4),
]

_TICKET_SUMMARIES = [
    "Outlook keeps asking for password",
    "Printer on 2nd floor offline",
    "New hire setup: laptop and accounts",
    "VPN disconnects every few minutes",
    "Server disk space low on C:",
    "Backup job failed overnight",
    "Phishing email reported by user",
    "Wi-Fi slow in conference room",
    "Reset MFA for user",
    "QuickBooks cannot open company file",
    "Firewall firmware update",
    "Shared drive mapping missing",
    "Replace failing switch in IDF",
    "Monitor flickering",
    "Teams audio not working",
    "Offboard departing employee",
    "SSL certificate expiring soon",
    "Antivirus alert: quarantined file",
    "Scanner to email not working",
    "Request: add user to distribution list",
    "Domain controller high CPU",
    "Website down",
    "Install Adobe Acrobat Pro",
    "Laptop battery swelling",
    "Migrate mailbox to Microsoft 365",
]

_NOTE_TEXTS = [
    "Called the user and reproduced the issue.",
    "Remoted in, cleared the credential cache and rebooted.",
    "Waiting on the customer to confirm the fix.",
    "Escalated to the network team for review.",
    "Vendor ticket opened, reference attached.",
    "Issue resolved; user confirmed everything works.",
    "Scheduled onsite visit for tomorrow morning.",
]

_CATALOG = [
    ("LAT-DELL-5450", "Dell Latitude 5450 Laptop", "Hardware", "Laptops", "Dell", 1349.0, 1089.0),
    ("LAT-LEN-T14", "Lenovo ThinkPad T14 Gen 5", "Hardware", "Laptops", "Lenovo", 1299.0, 1040.0),
    ("DT-DELL-7020", "Dell OptiPlex 7020 Desktop", "Hardware", "Desktops", "Dell", 989.0, 781.0),
    ("MON-DELL-P2425", "Dell 24 Monitor P2425H", "Hardware", "Monitors", "Dell", 229.0, 171.0),
    ("FW-FG-60F", "FortiGate 60F Firewall", "Hardware", "Network", "Fortinet", 749.0, 560.0),
    ("SW-MER-MS120", "Meraki MS120-24P Switch", "Hardware", "Network", "Cisco", 1899.0, 1510.0),
    ("AP-UBI-U6", "UniFi U6 Pro Access Point", "Hardware", "Network", "Ubiquiti", 189.0, 149.0),
    ("SRV-DELL-R660", "Dell PowerEdge R660 Server", "Hardware", "Servers", "Dell", 8995.0, 7420.0),
    ("UPS-APC-1500", "APC Smart-UPS 1500VA", "Hardware", "Power", "APC", 799.0, 612.0),
    ("DOCK-DELL-WD22", "Dell WD22TB4 Dock", "Hardware", "Accessories", "Dell", 289.0, 219.0),
    ("M365-BP", "Microsoft 365 Business Premium", "Software", "Licensing", "Microsoft", 26.4, 22.0),
    (
        "M365-BS",
        "Microsoft 365 Business Standard",
        "Software",
        "Licensing",
        "Microsoft",
        15.0,
        12.5,
    ),
    ("EXO-P1", "Exchange Online Plan 1", "Software", "Licensing", "Microsoft", 4.8, 4.0),
    (
        "S1-COMPLETE",
        "SentinelOne Complete (per endpoint)",
        "Software",
        "Security",
        "SentinelOne",
        9.5,
        5.75,
    ),
    ("HUNTRESS-EDR", "Huntress Managed EDR", "Software", "Security", "Huntress", 6.0, 3.5),
    (
        "KNOWBE4-SAT",
        "KnowBe4 Security Awareness Training",
        "Software",
        "Security",
        "KnowBe4",
        3.5,
        2.1,
    ),
    ("DUO-MFA", "Duo MFA (per user)", "Software", "Security", "Cisco", 4.0, 3.0),
    ("BKP-DATTO-SIRIS", "Datto SIRIS Backup (per TB)", "Service", "Backup", "Datto", 150.0, 85.0),
    ("BKP-M365", "Microsoft 365 Backup (per user)", "Service", "Backup", "Datto", 3.0, 1.5),
    ("MS-WS", "Managed Workstation", "Service", "Managed Services", "Sandbox MSP", 45.0, 12.0),
    ("MS-SRV", "Managed Server", "Service", "Managed Services", "Sandbox MSP", 175.0, 40.0),
    ("MS-NET", "Managed Network Device", "Service", "Managed Services", "Sandbox MSP", 25.0, 6.0),
    (
        "MS-USER",
        "Managed User (Helpdesk)",
        "Service",
        "Managed Services",
        "Sandbox MSP",
        95.0,
        30.0,
    ),
    ("LAB-REMOTE", "Remote Labor (hourly)", "Service", "Labor", "Sandbox MSP", 150.0, 55.0),
    ("LAB-ONSITE", "Onsite Labor (hourly)", "Service", "Labor", "Sandbox MSP", 175.0, 60.0),
    ("DOM-REG", "Domain Registration (annual)", "Service", "Hosting", "GoDaddy", 25.0, 12.0),
    ("SSL-DV", "SSL Certificate DV (annual)", "Service", "Hosting", "Sectigo", 89.0, 35.0),
    ("CABLE-CAT6", "Cat6 Patch Cable 7ft", "Hardware", "Accessories", "Monoprice", 6.0, 2.0),
    (
        "KB-LOGI-MK540",
        "Logitech MK540 Keyboard/Mouse",
        "Hardware",
        "Accessories",
        "Logitech",
        49.0,
        33.0,
    ),
    ("HS-JABRA-EV2", "Jabra Evolve2 40 Headset", "Hardware", "Accessories", "Jabra", 119.0, 86.0),
]


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


class _Builder:
    """Collects documents per (collection, parent) with per-collection ids from 1."""

    def __init__(self, schemas: Mapping[str, Any], rng: random.Random) -> None:
        self.schemas = schemas
        self.rng = rng
        self.items: list[tuple[str, str, dict[str, Any]]] = []
        self.next: dict[str, int] = {}
        self.parents: dict[int, str] = {}

    def add(self, coll: str, doc: dict[str, Any], parent: str = "") -> dict[str, Any]:
        id_ = self.next.get(coll, 1)
        self.next[coll] = id_ + 1
        doc = {"id": id_, **doc}
        when = _EPOCH - timedelta(days=self.rng.randint(1, 400), minutes=self.rng.randint(0, 600))
        doc.setdefault(
            "_info",
            {
                "lastUpdated": _iso(when),
                "updatedBy": self.rng.choice(_MEMBERS)[0],
                "dateEntered": _iso(when),
                "enteredBy": "jsmith",
            },
        )
        self.items.append((coll, parent, doc))
        self.parents[id(doc)] = parent
        return doc

    def ref(self, ref_schema: str, coll: str, doc: Mapping[str, Any]) -> dict[str, Any]:
        path = coll
        for value in self.parents.get(id(doc), "").split("/"):
            path = path.replace("{}", value, 1)
        href = f"{API_PREFIX}{path}/{doc['id']}"
        return make_reference(self.schemas, ref_schema, doc, href)

    @staticmethod
    def plain(id_: int, name: str) -> dict[str, Any]:
        return {"id": id_, "name": name}


def build_seed(schemas: Mapping[str, Any], seed: int) -> list[tuple[str, str, dict[str, Any]]]:
    """All seed documents as (collection, parent key, document), ids assigned."""
    rng = random.Random(seed)
    b = _Builder(schemas, rng)
    pick = rng.choice

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
    for i, (ident, first, last, title, role) in enumerate(_MEMBERS):
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

    def mref(member: Mapping[str, Any]) -> dict[str, Any]:
        return b.ref("MemberReference", MEMBERS, member)

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
                "dispatchMember": mref(members[8]),
                "serviceManagerMember": mref(members[0]),
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
    for i, (name, ident, city, state, zip_) in enumerate(_COMPANIES):
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
                    "dateAcquired": _iso(_EPOCH - timedelta(days=rng.randint(60, 3000))),
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
            first, last = pick(_FIRST), pick(_LAST)
            domain = company["website"].removeprefix("https://www.")
            contact = b.add(
                CONTACTS,
                {
                    "firstName": first,
                    "lastName": last,
                    "company": b.ref("CompanyReference", COMPANIES, company),
                    "site": company["site"],
                    "title": pick(_TITLES),
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
    for i, (ident, desc, ptype, sub, maker, price, cost) in enumerate(_CATALOG):
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
        start = _EPOCH - timedelta(days=rng.randint(30, 700))
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

    tickets = []
    for i in range(100):
        company = clients[i % len(clients)] if i % 9 else pick(clients)
        board = boards[0] if i % 5 else boards[1 + i % 2]
        status = board_statuses[board["id"]][
            rng.choices(range(7), weights=[18, 22, 12, 8, 4, 14, 22])[0]
        ]
        owner_m = pick(techs)
        entered = _EPOCH - timedelta(days=rng.randint(0, 120), minutes=rng.randint(0, 1400))
        closed = status["closedStatus"]
        contact = pick(contacts[company["id"]])
        ticket = b.add(
            TICKETS,
            {
                "summary": pick(_TICKET_SUMMARIES),
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
                    "text": _NOTE_TEXTS[0] if j == 0 else pick(_NOTE_TEXTS),
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

    for i in range(150):
        ticket = tickets[i % len(tickets)] if i < 100 else pick(tickets)
        member = pick(techs)
        start = _EPOCH - timedelta(days=rng.randint(0, 90), hours=rng.randint(0, 8))
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
                "notes": pick(_NOTE_TEXTS),
                "status": pick(["Open", "ApprovedByTierOne", "Billed", "ReadyToBill"]),
                "enteredBy": member["identifier"],
                "dateEntered": _iso(start + timedelta(hours=hours)),
                "hourlyRate": 125.0,
            },
        )

    for i in range(40):
        company = clients[i % len(clients)]
        date = _EPOCH - timedelta(days=15 * (i // len(clients)) + rng.randint(0, 14))
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
        start = _EPOCH - timedelta(days=rng.randint(0, 60))
        b.add(
            PROJECTS,
            {
                "name": f"{company['identifier']} - {name}",
                "billingMethod": method,
                "board": b.ref("ProjectBoardReference", BOARDS, boards[2]),
                "company": b.ref("CompanyReference", COMPANIES, company),
                "contact": b.ref("ContactReference", CONTACTS, contacts[company["id"]][0]),
                "manager": mref(members[5]),
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
                "purchaseDate": _iso(_EPOCH - timedelta(days=rng.randint(100, 1500))),
                "warrantyExpirationDate": _iso(_EPOCH + timedelta(days=rng.randint(-200, 900))),
                "activeFlag": True,
                "billFlag": False,
            },
        )

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
                "primarySalesRep": mref(rep),
                "company": b.ref("CompanyReference", COMPANIES, company),
                "contact": b.ref("ContactReference", CONTACTS, contacts[company["id"]][0]),
                "site": company["site"],
                "expectedCloseDate": _iso(_EPOCH + timedelta(days=rng.randint(-30, 120))),
                "stage": b.plain(1 + i % 4, ["Prospect", "Qualified", "Proposal", "Negotiation"][i % 4]),
                "status": b.plain(1 + ["Open", "Won", "Lost"].index(status_name), status_name),
                "probability": b.plain(1 + i % 5, f"{[10, 25, 50, 75, 90][i % 5]}%"),
                "type": b.plain(1 + i % 2, ["New Business", "Existing Client"][i % 2]),
                "source": pick(["Referral", "Website", "Existing customer", "Event"]),
                "notes": "Discussed scope on the last call.",
            },
        )  # fmt: skip

    return b.items


def ensure_seeded(
    store: Store, catalog: Catalog, schemas: Mapping[str, Any], seed: int
) -> frozenset[str]:
    """Seed ``store`` once (a reopened file keeps its data); returns the seeded collections.

    Collections that the registry does not know (a different spec) are left out.
    """
    seeded = frozenset(k for k in SEEDED if k in catalog.collections)
    if store.get_meta("seed") is None:
        items = [item for item in build_seed(schemas, seed) if item[0] in seeded]
        store.bulk_insert(items)
        store.set_meta("seed", f"{SEED_VERSION}:{seed}")
    return seeded
