"""The sandbox's seed data: collection keys and the tables the MSP data set is built from.

Plain data only; :mod:`cwm_gateway.sandbox.seed` turns it into records.
"""

from __future__ import annotations

from datetime import UTC, datetime

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
ACTIVITIES = "/sales/activities"
SCHEDULE_ENTRIES = "/schedule/entries"
DOCUMENTS = "/system/documents"

#: Collections this module fills; the sandbox never adds sample records to them.
SEEDED = frozenset(
    {
        LOCATIONS, DEPARTMENTS, MEMBERS, WORK_ROLES, WORK_TYPES, COMPANY_STATUSES,
        COMPANY_TYPES, COMPANIES, SITES, CONTACTS, PRIORITIES, BOARDS, BOARD_STATUSES,
        BOARD_TYPES, TICKETS, NOTES, TASKS, TIME_ENTRIES, AGREEMENT_TYPES, AGREEMENTS,
        ADDITIONS, INVOICES, PROJECTS, CONFIG_TYPES, CONFIGURATIONS, OPPORTUNITIES, CATALOG,
        ACTIVITIES, SCHEDULE_ENTRIES, DOCUMENTS,
    }
)  # fmt: skip

EPOCH = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)

COMPANY_ROWS = [
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

FIRST_NAMES = [
    "James", "Maria", "Robert", "Linda", "Michael", "Patricia", "David", "Jennifer", "Daniel",
    "Elizabeth", "Thomas", "Susan", "Kevin", "Karen", "Brian", "Nancy", "Jason", "Lisa", "Ryan",
    "Angela", "Eric", "Rachel", "Steven", "Megan", "Andrew", "Laura", "Joshua", "Emily",
]  # fmt: skip
LAST_NAMES = [
    "Anderson", "Brooks", "Carter", "Diaz", "Ellis", "Foster", "Garcia", "Hughes", "Iverson",
    "Jensen", "Kim", "Lopez", "Morgan", "Nguyen", "Owens", "Patel", "Quinn", "Reyes", "Shah",
    "Turner", "Underwood", "Vasquez", "Walsh", "Young",
]  # fmt: skip
CONTACT_TITLES = [
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

MEMBER_ROWS = [
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

TICKET_SUMMARIES = [
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

NOTE_TEXTS = [
    "Called the user and reproduced the issue.",
    "Remoted in, cleared the credential cache and rebooted.",
    "Waiting on the customer to confirm the fix.",
    "Escalated to the network team for review.",
    "Vendor ticket opened, reference attached.",
    "Issue resolved; user confirmed everything works.",
    "Scheduled onsite visit for tomorrow morning.",
]

#: Catalog items: (identifier, description, category, subcategory, manufacturer, price, cost).
CATALOG_ROWS = [
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
    ("M365-BS", "Microsoft 365 Business Standard", "Software", "Licensing", "Microsoft", 15.0, 12.5),
    ("EXO-P1", "Exchange Online Plan 1", "Software", "Licensing", "Microsoft", 4.8, 4.0),
    ("S1-COMPLETE", "SentinelOne Complete (per endpoint)", "Software", "Security", "SentinelOne", 9.5, 5.75),
    ("HUNTRESS-EDR", "Huntress Managed EDR", "Software", "Security", "Huntress", 6.0, 3.5),
    ("KNOWBE4-SAT", "KnowBe4 Security Awareness Training", "Software", "Security", "KnowBe4", 3.5, 2.1),
    ("DUO-MFA", "Duo MFA (per user)", "Software", "Security", "Cisco", 4.0, 3.0),
    ("BKP-DATTO-SIRIS", "Datto SIRIS Backup (per TB)", "Service", "Backup", "Datto", 150.0, 85.0),
    ("BKP-M365", "Microsoft 365 Backup (per user)", "Service", "Backup", "Datto", 3.0, 1.5),
    ("MS-WS", "Managed Workstation", "Service", "Managed Services", "Sandbox MSP", 45.0, 12.0),
    ("MS-SRV", "Managed Server", "Service", "Managed Services", "Sandbox MSP", 175.0, 40.0),
    ("MS-NET", "Managed Network Device", "Service", "Managed Services", "Sandbox MSP", 25.0, 6.0),
    ("MS-USER", "Managed User (Helpdesk)", "Service", "Managed Services", "Sandbox MSP", 95.0, 30.0),
    ("LAB-REMOTE", "Remote Labor (hourly)", "Service", "Labor", "Sandbox MSP", 150.0, 55.0),
    ("LAB-ONSITE", "Onsite Labor (hourly)", "Service", "Labor", "Sandbox MSP", 175.0, 60.0),
    ("DOM-REG", "Domain Registration (annual)", "Service", "Hosting", "GoDaddy", 25.0, 12.0),
    ("SSL-DV", "SSL Certificate DV (annual)", "Service", "Hosting", "Sectigo", 89.0, 35.0),
    ("CABLE-CAT6", "Cat6 Patch Cable 7ft", "Hardware", "Accessories", "Monoprice", 6.0, 2.0),
    ("KB-LOGI-MK540", "Logitech MK540 Keyboard/Mouse", "Hardware", "Accessories", "Logitech", 49.0, 33.0),
    ("HS-JABRA-EV2", "Jabra Evolve2 40 Headset", "Hardware", "Accessories", "Jabra", 119.0, 86.0),
]  # fmt: skip


#: Files attached to seeded records: (recordType, recordId, file name, media type, bytes).
SEED_FILES = [
    ("Ticket", 1, "outlook-error.txt", "text/plain",
     b"Outlook: The connection to Microsoft Exchange is unavailable.\n"),
    ("Ticket", 2, "printer-status.png", "image/png",
     b"\x89PNG\r\n\x1a\n" + bytes(range(256))),
    ("Company", 2, "network-diagram.pdf", "application/pdf",
     b"%PDF-1.4\n% Acme network diagram\n%%EOF\n"),
]  # fmt: skip
