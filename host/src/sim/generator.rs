//! Synthetic Okta System Log events for the Okta API simulator.
//!
//! A [`Generator`] invents one small org (40 users with a home city, a usual IP, browser and device
//! fingerprint; 8 groups; 6 apps; 2–3 admins; a few OAuth service apps) and then writes complete
//! `LogEvent` objects in the shape `GET /api/v1/logs` returns them:
//!
//! - [`Generator::background`]: everyday activity with a realistic mix of event types (sign-ins, SSO,
//!   policy evaluations, MFA, token grants, admin changes, the odd failed login or lockout);
//! - [`Generator::scenario`]: the events one staged attack leaves, so the demo and the detection rules
//!   have something to find. The exact sequences are:
//!   - `BruteForce`: 25 × `user.session.start` FAILURE `INVALID_CREDENTIALS`, then `user.account.lock`;
//!   - `MfaPushBombing`: 8 × (`system.push.send_factor_verify_push`, `user.mfa.okta_verify.deny_push`),
//!     then `system.push.send_factor_verify_push`, `user.authentication.auth_via_mfa` SUCCESS and
//!     `user.session.start` SUCCESS (the denials come from the victim's phone, everything else from the
//!     attacker);
//!   - `AdminPrivilegeGrant`: `user.account.privilege.grant` (by a hijacked admin session), then the
//!     grantee's `user.session.start`, `user.session.access_admin_app` and `system.api_token.create`;
//!   - `ProxySession`: `policy.evaluate_sign_on` ALLOW, `user.session.start` SUCCESS and
//!     `user.authentication.sso`, all through an anonymising VPN.
//!
//! Determinism: there is no clock, no global state and no file access. Every choice comes from one
//! `fastrand::Rng` seeded with the seed mixed with a hash of the org domain, so the same seed and domain
//! with the same sequence of calls give the same events, byte for byte.
//!
//! Objects are built in Okta's key order. `serde_json` keeps insertion order only with its
//! `preserve_order` feature; without it, maps serialize with sorted keys (the content is the same).
//!
//! Only documentation addresses appear: IPv4 from RFC 5737 and IPv6 from RFC 3849 (`2001:db8::/32`).
//! Attackers always come from `203.0.113.0/24`, which background users never use. Invented domains
//! are `example.com`, `example.net` and `example.org`; the one other domain is Okta's own fixed
//! `system@okta.com` on the system principal.

use serde_json::{Map, Value};

/// An attack the simulator can stage so the demo and the detection rules have something to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// ~25 failed `user.session.start` (INVALID_CREDENTIALS) for one user from one IP in a few minutes,
    /// then `user.account.lock`.
    BruteForce,
    /// ~8 `system.push.send_factor_verify_push` + `user.mfa.okta_verify.deny_push` pairs for one user
    /// within 10 minutes from an attacker IP, ending with an accepted push
    /// (`user.authentication.auth_via_mfa` SUCCESS) and `user.session.start` SUCCESS.
    MfaPushBombing,
    /// An admin grants `Super administrator` to another user (`user.account.privilege.grant`,
    /// `debugContext.debugData.privilegeGranted`), then that user creates an API token (`system.api_token.create`).
    AdminPrivilegeGrant,
    /// `user.session.start` SUCCESS from an anonymizing proxy/Tor exit: `securityContext.isProxy: true`,
    /// `securityContext.ipDetails.ipServiceCategories` with VPN/Tor, `debugData.tunnels`, new-geo behaviors.
    ProxySession,
}

/// Every scenario, in declaration order.
pub const ALL_SCENARIOS: [Scenario; 4] =
    [Scenario::BruteForce, Scenario::MfaPushBombing, Scenario::AdminPrivilegeGrant, Scenario::ProxySession];

/// A simulated org and the random source all its events are drawn from.
#[derive(Debug)]
pub struct Generator {
    rng: fastrand::Rng,
    org: Org,
}

impl Generator {
    /// A generator for one org. Same seed and domain ⇒ same events, byte for byte.
    pub fn new(seed: u64, org_domain: &str) -> Generator {
        let mut rng = fastrand::Rng::with_seed(seed ^ fnv1a(org_domain.as_bytes()));
        let org = Org::build(&mut rng);
        Generator { rng, org }
    }

    /// Background activity: exactly `count` events with `published` spread over [from_ms, to_ms)
    /// (Unix epoch milliseconds), returned sorted by `published`.
    ///
    /// An empty or inverted range puts every event at `from_ms`.
    pub fn background(&mut self, from_ms: i64, to_ms: i64, count: usize) -> Vec<Value> {
        let span = to_ms.saturating_sub(from_ms).max(1);
        let mut times: Vec<i64> = (0..count).map(|_| from_ms.saturating_add(self.rng.i64(0..span))).collect();
        times.sort_unstable();
        times.into_iter().map(|ms| self.background_event(ms)).collect()
    }

    /// The events one attack leaves in the System Log, starting at `at_ms`, sorted by `published`.
    pub fn scenario(&mut self, scenario: Scenario, at_ms: i64) -> Vec<Value> {
        let mut events = match scenario {
            Scenario::BruteForce => self.brute_force(at_ms),
            Scenario::MfaPushBombing => self.push_bombing(at_ms),
            Scenario::AdminPrivilegeGrant => self.privilege_grant(at_ms),
            Scenario::ProxySession => self.proxy_session(at_ms),
        };
        events.sort_by_key(|(ms, _)| *ms);
        events.into_iter().map(|(_, event)| event).collect()
    }
}

/// A person of the generated org, for the directory simulator, so that the users and devices in log
/// events are directory users and devices.
#[derive(Debug, Clone)]
pub struct Person {
    pub id: String,
    pub login: String,
    pub first_name: String,
    pub last_name: String,
    pub city: &'static str,
    pub country: &'static str,
    /// One of the org's admins (the privilege-grant scenario's actors).
    pub admin: bool,
    /// The user's usual device, when the events carry one.
    pub device: Option<PersonDevice>,
}

/// A person's device as the log events show it.
#[derive(Debug, Clone)]
pub struct PersonDevice {
    pub id: String,
    pub name: String,
    /// `MACOS`, `WINDOWS`, `IOS`.
    pub platform: String,
    pub os_version: String,
    pub managed: bool,
    pub screen_lock: String,
}

impl Generator {
    /// The org's people (its users, then the provisioning service account), in a fixed order.
    pub fn people(&self) -> Vec<Person> {
        let org = &self.org;
        let person = |i: Option<usize>, u: &User| {
            let (first, last) = u.name.split_once(' ').unwrap_or((u.name.as_str(), ""));
            let text = |k: &str| u.device[k].as_str().unwrap_or_default().to_owned();
            Person {
                id: u.id.clone(),
                login: u.login.clone(),
                first_name: first.to_owned(),
                last_name: last.to_owned(),
                city: u.home.place.city,
                country: u.home.place.country,
                admin: i.is_some_and(|i| org.admins.contains(&i)),
                device: u.device.is_object().then(|| PersonDevice {
                    id: text("id"),
                    name: text("name"),
                    platform: text("os_platform"),
                    os_version: text("os_version"),
                    managed: u.device["managed"].as_bool().unwrap_or(false),
                    screen_lock: text("screen_lock_type"),
                }),
            }
        };
        org.users.iter().enumerate().map(|(i, u)| person(Some(i), u)).chain([person(None, &org.provisioner)]).collect()
    }

    /// The org's groups: (id, name), "Everyone" first.
    pub fn groups(&self) -> Vec<(String, &'static str)> {
        self.org.groups.iter().cloned().zip(GROUPS).collect()
    }
}

// ---------------------------------------------------------------------------------------------------------
// Reference data: places, networks, user agents, names.

#[derive(Debug)]
struct Place {
    city: &'static str,
    state: &'static str,
    country: &'static str,
    postal: &'static str,
    lat: f64,
    lon: f64,
}

#[derive(Debug)]
struct Net {
    asn: u32,
    org: &'static str,
    isp: &'static str,
    domain: &'static str,
}

#[derive(Debug)]
struct Home {
    place: Place,
    net: Net,
}

#[derive(Debug)]
struct Agent {
    raw: &'static str,
    os: &'static str,
    browser: &'static str,
    device: &'static str,
}

const fn place(
    city: &'static str,
    state: &'static str,
    country: &'static str,
    postal: &'static str,
    lat: f64,
    lon: f64,
) -> Place {
    Place { city, state, country, postal, lat, lon }
}

const fn net(asn: u32, org: &'static str, isp: &'static str, domain: &'static str) -> Net {
    Net { asn, org, isp, domain }
}

/// Users' home cities, each with the residential ISP its users come through (documentation ASNs, RFC 5398).
static HOMES: [Home; 10] = [
    Home {
        place: place("San Francisco", "California", "United States", "94107", 37.7697, -122.3933),
        net: net(64496, "example fiber llc", "Example Fiber", "fiber.example.net"),
    },
    Home {
        place: place("London", "England", "United Kingdom", "EC2V", 51.5142, -0.0931),
        net: net(64498, "example telecom plc", "Example Telecom UK", "uk.example.net"),
    },
    Home {
        place: place("São Paulo", "São Paulo", "Brazil", "01310", -23.5614, -46.6559),
        net: net(64502, "example telecomunicações s.a.", "Example Telecomunicações", "br.example.net"),
    },
    Home {
        place: place("Tokyo", "Tokyo", "Japan", "100-0005", 35.6812, 139.7671),
        net: net(64503, "example networks k.k.", "Example Networks", "jp.example.net"),
    },
    Home {
        place: place("Sydney", "New South Wales", "Australia", "2000", -33.8688, 151.2093),
        net: net(64504, "example broadband pty ltd", "Example Broadband", "au.example.net"),
    },
    Home {
        place: place("Berlin", "Land Berlin", "Germany", "10117", 52.52, 13.405),
        net: net(64499, "example kabel gmbh", "Example Kabel", "de.example.net"),
    },
    Home {
        place: place("Toronto", "Ontario", "Canada", "M5H", 43.6532, -79.3832),
        net: net(64500, "example communications inc", "Example Communications", "ca.example.net"),
    },
    Home {
        place: place("Chicago", "Illinois", "United States", "60601", 41.8858, -87.6181),
        net: net(64501, "example cable llc", "Example Cable", "cable.example.org"),
    },
    Home {
        place: place("Amsterdam", "North Holland", "Netherlands", "1012", 52.374, 4.8897),
        net: net(64507, "example internet b.v.", "Example Internet NL", "nl.example.net"),
    },
    Home {
        place: place("Singapore", "Singapore", "Singapore", "018989", 1.28, 103.85),
        net: net(64508, "example singnet pte ltd", "Example SingNet", "sg.example.net"),
    },
];

/// The company's own egress (headquarters in San Francisco): service accounts and API clients.
static HQ_NET: Net = net(64497, "acme corporation", "Example Business Internet", "example.com");

/// Where attackers appear to be.
static ATTACK_PLACES: [Place; 4] = [
    place("Frankfurt am Main", "Hesse", "Germany", "60313", 50.1155, 8.6842),
    place("Ashburn", "Virginia", "United States", "20147", 39.0438, -77.4874),
    place("Bucharest", "Bucharest", "Romania", "030167", 44.4268, 26.1025),
    place("Lagos", "Lagos", "Nigeria", "100001", 6.455, 3.3841),
];

static HOSTING_NET: Net = net(64510, "example hosting b.v.", "Example Hosting", "hosting.example.org");
static CLOUD_NET: Net = net(64505, "example cloud hosting inc", "Example Cloud", "cloud.example.org");
static VPN_NET: Net = net(64511, "example privacy network", "Example VPN Services", "vpn.example.net");

static CHROME_WIN: Agent = Agent {
    raw: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.0.0 Safari/537.36",
    os: "Windows 10",
    browser: "CHROME",
    device: "Computer",
};
static SAFARI_MAC: Agent = Agent {
    raw: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.6 Safari/605.1.15",
    os: "Mac OS X",
    browser: "SAFARI",
    device: "Computer",
};
static FIREFOX_LINUX: Agent = Agent {
    raw: "Mozilla/5.0 (X11; Linux x86_64; rv:143.0) Gecko/20100101 Firefox/143.0",
    os: "Linux",
    browser: "FIREFOX",
    device: "Computer",
};
static OKTA_VERIFY_IOS: Agent = Agent {
    raw: "OktaVerify/9.43.0 (iPhone15,2; iOS 18.6.2) CFNetwork/1568.300.101 Darwin/24.6.0",
    os: "iOS",
    browser: "UNKNOWN",
    device: "Mobile",
};
static FIREFOX_WIN: Agent = Agent {
    raw: "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:143.0) Gecko/20100101 Firefox/143.0",
    os: "Windows 10",
    browser: "FIREFOX",
    device: "Computer",
};
static HEADLESS_CHROME: Agent = Agent {
    raw: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/141.0.0.0 Safari/537.36",
    os: "Linux",
    browser: "CHROME",
    device: "Computer",
};
static PYTHON_REQUESTS: Agent =
    Agent { raw: "python-requests/2.32.3", os: "Unknown", browser: "UNKNOWN", device: "Unknown" };
static OKHTTP: Agent = Agent { raw: "okhttp/4.12.0", os: "Unknown", browser: "UNKNOWN", device: "Unknown" };
static GO_HTTP: Agent = Agent { raw: "Go-http-client/2.0", os: "Unknown", browser: "UNKNOWN", device: "Unknown" };

const FIRST_NAMES: [&str; 40] = [
    "Olivia", "Liam", "Priya", "Kenji", "Dana", "Marcus", "Hannah", "Rafael", "Sofia", "Mateo", "Amara", "Noah",
    "Chloe", "Ethan", "Leila", "Omar", "Grace", "Lucas", "Ingrid", "Tomas", "Aisha", "Daniel", "Mei", "Felix", "Nora",
    "Samuel", "Yara", "Oscar", "Ruth", "Hugo", "Zara", "Adrian", "Elena", "Victor", "Maya", "Jonas", "Clara", "Diego",
    "Fatima", "Isaac",
];

const LAST_NAMES: [&str; 40] = [
    "Brandt",
    "Carter",
    "Raman",
    "Watanabe",
    "Whitfield",
    "Lee",
    "Okafor",
    "Gomez",
    "Rossi",
    "Alvarez",
    "Nwosu",
    "Fischer",
    "Dubois",
    "Nakamura",
    "Haddad",
    "Farouk",
    "Lindqvist",
    "Moreau",
    "Berg",
    "Novak",
    "Rahman",
    "Kowalski",
    "Chen",
    "Schneider",
    "Olsen",
    "Adeyemi",
    "Costa",
    "Nilsson",
    "Levi",
    "Martin",
    "Khan",
    "Petrov",
    "Silva",
    "Hughes",
    "Patel",
    "Weber",
    "Jansen",
    "Ortiz",
    "Mensah",
    "Brooks",
];

/// `(alternateId, displayName, catalog slug)`; the first two are Okta's own apps.
const APPS: [(&str, &str, &str); 6] = [
    ("Okta Admin Console", "Okta Admin Console", "saasure"),
    ("Okta Dashboard", "Okta Dashboard", "okta_enduser"),
    ("Slack", "Slack", "slack"),
    ("Salesforce", "Salesforce.com", "salesforce"),
    ("AWS IAM Identity Center", "AWS IAM Identity Center", "amazon_aws_sso"),
    ("GitHub", "GitHub Enterprise Cloud - Organization", "githubcloud"),
];
const ADMIN_CONSOLE: usize = 0;
const DASHBOARD: usize = 1;
/// Apps users sign in to with SAML (everything but Okta's own two).
const SSO_APPS: std::ops::Range<usize> = 2..6;

const GROUPS: [&str; 8] =
    ["Everyone", "Engineering", "Sales", "Finance", "Support", "Contractors", "IT Admins", "AWS Admins"];

/// Sign-on policies: `(name, [(rule name, factor mode)])`.
const POLICIES: [(&str, &[(&str, &str)]); 2] = [
    ("Default Policy", &[("Default Rule", "1FA")]),
    ("Employee Sign-On", &[("Require MFA off network", "2FA"), ("Corporate network", "1FA")]),
];

/// OAuth service apps: `(name, user agent, scopes)`.
static SERVICE_APPS: [(&str, &Agent, &str); 3] = [
    ("Internal Billing API", &PYTHON_REQUESTS, "billing:invoices.read billing:invoices.write"),
    ("SIEM Log Collector", &GO_HTTP, "okta.logs.read"),
    ("CI Deploy Bot", &OKHTTP, "okta.apps.read okta.groups.read"),
];

const BEHAVIOR_NAMES: [&str; 7] =
    ["New Geo-Location", "New Device", "New IP", "New State", "New Country", "Velocity", "New City"];
const ALL_POSITIVE: [bool; 7] = [true; 7];
/// What ThreatInsight and behaviour detection say about a sign-in: `debugData.behaviors` flags and `risk`.
type Signals = ([bool; 7], &'static str);
/// The signals of a sign-in by an attacker: everything new, high risk.
const ATTACK: Signals = (ALL_POSITIVE, HIGH_RISK);
const ALL_NEGATIVE: [bool; 7] = [false; 7];

const BRUTE_FORCE_ATTEMPTS: usize = 25;
const PUSH_DENIALS: usize = 8;
const VPN_OPERATOR: &str = "EXAMPLE_VPN";
const TUNNELS: &str = r#"[{"anonymous":true,"operator":"EXAMPLE_VPN","type":"VPN"}]"#;
const HIGH_RISK: &str = "{reasons=Anomalous Location, Anomalous Device, level=HIGH}";
const SUPER_ADMIN: &str = "Super administrator";
const SIGN_ON_ALLOW: &str = "Sign-on policy evaluation resulted in ALLOW";
const PUSH_REJECTED: &str = "User rejected Okta push verify";

// ---------------------------------------------------------------------------------------------------------
// The org.

#[derive(Debug)]
struct User {
    id: String,
    login: String,
    name: String,
    home: &'static Home,
    ip: String,
    agent: &'static Agent,
    dt_hash: String,
    fingerprint: String,
    /// The OIE device object for the user's usual machine, or null.
    device: Value,
    okta_verify: String,
    fastpass: String,
    password: String,
    /// The user's AppUser id in each app (index as `APPS`).
    app_users: Vec<String>,
    /// The user's current Okta session (`idx…`); replaced at each successful sign-in.
    session: String,
}

#[derive(Debug)]
struct Policy {
    id: String,
    name: &'static str,
    rules: Vec<(String, &'static str, &'static str)>,
}

#[derive(Debug)]
struct ServiceApp {
    id: String,
    name: &'static str,
    agent: &'static Agent,
    scopes: &'static str,
    ip: String,
}

#[derive(Debug)]
struct Org {
    users: Vec<User>,
    admins: Vec<usize>,
    groups: Vec<String>,
    apps: Vec<String>,
    app_keys: Vec<String>,
    policies: Vec<Policy>,
    services: Vec<ServiceApp>,
    auth_server: String,
    fastpass_authenticator: String,
    provisioner: User,
    provisioning_token: String,
    siem_token: String,
    system_principal: String,
    zone_id: String,
}

impl Org {
    fn build(rng: &mut fastrand::Rng) -> Org {
        let mut firsts = FIRST_NAMES;
        let mut lasts = LAST_NAMES;
        rng.shuffle(&mut firsts);
        rng.shuffle(&mut lasts);
        // Distinct host addresses for users; 198.51.100.1–19 is kept for the company's own egress.
        let mut pool: Vec<String> =
            (2..=254).map(|h| format!("192.0.2.{h}")).chain((20..=254).map(|h| format!("198.51.100.{h}"))).collect();
        rng.shuffle(&mut pool);
        let users: Vec<User> = firsts
            .iter()
            .zip(lasts.iter())
            .zip(pool)
            .map(|((first, last), ip)| make_user(rng, first, last, ip))
            .collect();
        let admins = (0..rng.usize(2..=3)).collect();
        let provisioner = User {
            id: okta_id(rng, "00u"),
            login: "svc-provisioning@example.com".to_owned(),
            name: "Provisioning Service".to_owned(),
            home: &HOMES[0],
            ip: "198.51.100.10".to_owned(),
            agent: &PYTHON_REQUESTS,
            dt_hash: hex(rng, 64),
            fingerprint: hex(rng, 32),
            device: Value::Null,
            okta_verify: okta_id(rng, "opf"),
            fastpass: okta_id(rng, "pfd"),
            password: okta_id(rng, "lae"),
            app_users: Vec::new(),
            session: String::new(),
        };
        let services = SERVICE_APPS
            .iter()
            .enumerate()
            .map(|(i, (name, agent, scopes))| ServiceApp {
                id: okta_id(rng, "0oa"),
                name,
                agent,
                scopes,
                ip: format!("198.51.100.{}", 11 + i),
            })
            .collect();
        let policies = POLICIES
            .iter()
            .map(|(name, rules)| Policy {
                id: okta_id(rng, "00p"),
                name,
                rules: rules.iter().map(|(rule, mode)| (okta_id(rng, "0pr"), *rule, *mode)).collect(),
            })
            .collect();
        Org {
            users,
            admins,
            groups: GROUPS.iter().map(|_| okta_id(rng, "00g")).collect(),
            apps: APPS.iter().map(|_| okta_id(rng, "0oa")).collect(),
            app_keys: APPS.iter().map(|_| okta_id(rng, "exk")).collect(),
            policies,
            services,
            auth_server: okta_id(rng, "aus"),
            fastpass_authenticator: okta_id(rng, "aut"),
            provisioner,
            provisioning_token: okta_id(rng, "00T"),
            siem_token: okta_id(rng, "00T"),
            system_principal: okta_id(rng, "0oa"),
            zone_id: okta_id(rng, "nzo"),
        }
    }
}

fn make_user(rng: &mut fastrand::Rng, first: &str, last: &str, v4: String) -> User {
    let home = &HOMES[rng.usize(..HOMES.len())];
    let agent = match rng.u8(..100) {
        0..40 => &CHROME_WIN,
        40..75 => &SAFARI_MAC,
        75..90 => &FIREFOX_LINUX,
        _ => &OKTA_VERIFY_IOS,
    };
    let ip = if rng.u8(..100) < 15 {
        let city_block = 0x100 + HOMES.iter().position(|h| std::ptr::eq(h, home)).unwrap_or(0);
        format!("2001:db8:{city_block:x}:{:x}::{:x}", rng.u16(1..), rng.u16(1..))
    } else {
        v4
    };
    let upper = first.to_uppercase();
    let device_id = okta_id(rng, "guo");
    let device = match agent.os {
        "Mac OS X" => oie_device(
            &device_id,
            &format!("{upper}-MBP-{}", if rng.bool() { 14 } else { 16 }),
            "MACOS",
            "15.6.1",
            rng.u8(..100) < 80,
            "BIOMETRIC",
        ),
        "Windows 10" => {
            oie_device(&device_id, &format!("{upper}-LAPTOP"), "WINDOWS", "10.0.26100", rng.u8(..100) < 70, "PASSCODE")
        }
        "iOS" => oie_device(&device_id, &format!("{first}'s iPhone"), "IOS", "18.6.2", false, "BIOMETRIC"),
        _ => Value::Null,
    };
    User {
        id: okta_id(rng, "00u"),
        login: format!("{}.{}@example.com", first.to_lowercase(), last.to_lowercase()),
        name: format!("{first} {last}"),
        home,
        ip,
        agent,
        dt_hash: hex(rng, 64),
        fingerprint: hex(rng, 32),
        device,
        okta_verify: okta_id(rng, "opf"),
        fastpass: okta_id(rng, "pfd"),
        password: okta_id(rng, "lae"),
        app_users: APPS.iter().map(|_| okta_id(rng, "0ua")).collect(),
        session: session_id(rng),
    }
}

fn oie_device(id: &str, name: &str, platform: &str, version: &str, managed: bool, lock: &str) -> Value {
    obj([
        ("id", s(id)),
        ("name", s(name)),
        ("os_platform", s(platform)),
        ("os_version", s(version)),
        ("managed", Value::Bool(managed)),
        ("registered", Value::Bool(true)),
        ("device_integrator", Value::Null),
        ("disk_encryption_type", s("ALL_INTERNAL_VOLUMES")),
        ("screen_lock_type", s(lock)),
        ("jailbreak", if platform == "IOS" { Value::Bool(false) } else { Value::Null }),
        ("secure_hardware_present", Value::Bool(true)),
    ])
}

// ---------------------------------------------------------------------------------------------------------
// Event drafts: the parts that vary, assembled by `Generator::emit` into a full LogEvent.

/// Where a request came from: the client and network half of an event.
#[derive(Debug, Clone)]
struct Origin {
    ip: String,
    place: &'static Place,
    net: &'static Net,
    agent: &'static Agent,
    proxy: bool,
}

#[derive(Debug)]
struct Authn {
    provider: Option<&'static str>,
    credential_provider: Option<&'static str>,
    credential_type: Option<&'static str>,
    issuer: Value,
    interface: Option<&'static str>,
    root_session: Option<String>,
    external_session: String,
}

impl Authn {
    /// Inside an Okta session: both session ids are the session's.
    fn session(id: &str) -> Authn {
        Authn {
            provider: None,
            credential_provider: None,
            credential_type: None,
            issuer: Value::Null,
            interface: None,
            root_session: Some(id.to_owned()),
            external_session: id.to_owned(),
        }
    }

    /// Before a session exists (failed sign-ins, system events).
    fn none() -> Authn {
        Authn {
            provider: None,
            credential_provider: None,
            credential_type: None,
            issuer: Value::Null,
            interface: None,
            root_session: None,
            external_session: "unknown".to_owned(),
        }
    }
}

#[derive(Debug)]
struct Draft {
    event_type: &'static str,
    severity: &'static str,
    legacy: Option<&'static str>,
    message: &'static str,
    actor: Value,
    origin: Origin,
    client_id: Option<String>,
    device: Value,
    authn: Authn,
    uri: String,
    query: String,
    debug: Vec<(&'static str, Value)>,
    result: &'static str,
    reason: Option<&'static str>,
    targets: Vec<Value>,
    txn_detail: Value,
}

impl Draft {
    fn new(
        event_type: &'static str,
        legacy: Option<&'static str>,
        message: &'static str,
        actor: Value,
        origin: Origin,
    ) -> Draft {
        Draft {
            event_type,
            severity: "INFO",
            legacy,
            message,
            actor,
            origin,
            client_id: None,
            device: Value::Null,
            authn: Authn::none(),
            uri: String::new(),
            query: String::new(),
            debug: Vec::new(),
            result: "SUCCESS",
            reason: None,
            targets: Vec::new(),
            txn_detail: Value::Object(Map::new()),
        }
    }

    fn uri(mut self, uri: impl Into<String>) -> Draft {
        self.uri = uri.into();
        self
    }

    fn debug(mut self, key: &'static str, value: impl Into<String>) -> Draft {
        self.debug.push((key, Value::String(value.into())));
        self
    }

    fn outcome(mut self, result: &'static str, reason: Option<&'static str>) -> Draft {
        self.result = result;
        self.reason = reason;
        self
    }

    fn target(mut self, target: Value) -> Draft {
        self.targets.push(target);
        self
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    SessionStart,
    Sso,
    EvaluateSignOn,
    AuthViaMfa,
    Verify,
    SessionEnd,
    TokenGrant,
    LoginFailure,
    GroupAdd,
    AppAssign,
    ProfileUpdate,
    UserCreate,
    UserActivate,
    FactorActivate,
    RateLimitWarning,
    RuleUpdate,
    AccountLock,
    PushSend,
    AdminAppAccess,
    GroupRemove,
    ResetPassword,
    ZoneUpdate,
    ApiTokenCreate,
}

/// The background mix, in basis points (sums to 10 000).
const MIX: [(Kind, u16); 23] = [
    (Kind::SessionStart, 2000),
    (Kind::Sso, 2000),
    (Kind::EvaluateSignOn, 1200),
    (Kind::AuthViaMfa, 800),
    (Kind::Verify, 500),
    (Kind::SessionEnd, 800),
    (Kind::TokenGrant, 500),
    (Kind::LoginFailure, 400),
    (Kind::GroupAdd, 300),
    (Kind::AppAssign, 300),
    (Kind::ProfileUpdate, 200),
    (Kind::UserCreate, 100),
    (Kind::UserActivate, 100),
    (Kind::FactorActivate, 200),
    (Kind::RateLimitWarning, 50),
    (Kind::RuleUpdate, 100),
    (Kind::AccountLock, 50),
    (Kind::PushSend, 150),
    (Kind::AdminAppAccess, 100),
    (Kind::GroupRemove, 60),
    (Kind::ResetPassword, 40),
    (Kind::ZoneUpdate, 30),
    (Kind::ApiTokenCreate, 20),
];

impl Generator {
    // ----- low-level pieces

    fn uuid(&mut self) -> String {
        uuid(&mut self.rng)
    }

    /// A request id in Okta's style: 22 alphanumerics, `AAA`, 2 more.
    fn request_id(&mut self) -> String {
        let mut id = alnum(&mut self.rng, 22);
        id.push_str("AAA");
        id.push_str(&alnum(&mut self.rng, 2));
        id
    }

    fn user_origin(&self, u: usize) -> Origin {
        let user = &self.org.users[u];
        Origin { ip: user.ip.clone(), place: &user.home.place, net: &user.home.net, agent: user.agent, proxy: false }
    }

    /// The company's own egress, for API clients and service accounts.
    fn hq_origin(ip: &str, agent: &'static Agent) -> Origin {
        Origin { ip: ip.to_owned(), place: &HOMES[0].place, net: &HQ_NET, agent, proxy: false }
    }

    /// A fresh attacker address in 203.0.113.0/24, seen from a hosting network far from home.
    fn attacker_origin(&mut self, agent: &'static Agent, net: &'static Net, proxy: bool) -> Origin {
        let ip = format!("203.0.113.{}", self.rng.u8(2..=254));
        let place = &ATTACK_PLACES[self.rng.usize(..ATTACK_PLACES.len())];
        Origin { ip, place, net, agent, proxy }
    }

    fn pick_user(&mut self) -> usize {
        self.rng.usize(..self.org.users.len())
    }

    fn pick_admin(&mut self) -> usize {
        self.org.admins[self.rng.usize(..self.org.admins.len())]
    }

    fn pick_non_admin(&mut self) -> usize {
        self.rng.usize(self.org.admins.len()..self.org.users.len())
    }

    fn user_actor(&self, u: usize) -> Value {
        person(&self.org.users[u], "User")
    }

    fn app_target(&self, app: usize) -> Value {
        let (label, display, _) = APPS[app];
        entity(&self.org.apps[app], "AppInstance", label, display, Value::Null)
    }

    fn app_user_target(&self, u: usize, app: usize) -> Value {
        let user = &self.org.users[u];
        entity(&user.app_users[app], "AppUser", &user.login, &user.name, Value::Null)
    }

    fn group_target(&self, g: usize) -> Value {
        entity(&self.org.groups[g], "UserGroup", "unknown", GROUPS[g], Value::Null)
    }

    fn okta_verify_target(&self, u: usize, method: Option<&str>) -> Value {
        let detail = match method {
            Some(method) => obj([
                ("methodTypeUsed", s(method)),
                ("methodUsedVerifiedProperties", s("[POSSESSION, HARDWARE_PROTECTED, USER_PRESENCE]")),
            ]),
            None => Value::Null,
        };
        entity(&self.org.users[u].okta_verify, "AuthenticatorEnrollment", "unknown", "Okta Verify", detail)
    }

    /// `debugData.behaviors` for an everyday sign-in: usually nothing new, sometimes a new device or IP.
    fn everyday_behaviors(&mut self) -> Signals {
        match self.rng.u8(..100) {
            0..85 => (ALL_NEGATIVE, "{level=LOW}"),
            85..95 => ([false, true, false, false, false, false, false], "{level=LOW}"),
            _ => ([false, true, true, false, false, false, false], "{reasons=Anomalous Device, level=MEDIUM}"),
        }
    }

    /// The user's usual browser fingerprint: `(dtHash, deviceFingerprint)`.
    fn usual_browser(&self, u: usize) -> (String, String) {
        let user = &self.org.users[u];
        (user.dt_hash.clone(), user.fingerprint.clone())
    }

    /// Assembles a full LogEvent in Okta's key order.
    fn emit(&mut self, ms: i64, draft: Draft) -> Value {
        let uuid = self.uuid();
        let request_id = self.request_id();
        let Draft {
            event_type,
            severity,
            legacy,
            message,
            actor,
            origin,
            client_id,
            device,
            authn,
            uri,
            query,
            mut debug,
            result,
            reason,
            targets,
            txn_detail,
        } = draft;

        let url = format!("{uri}?{query}");
        debug.push(("requestId", s(&request_id)));
        debug.push(("requestUri", Value::String(uri)));
        debug.push(("url", Value::String(url)));
        if origin.proxy {
            debug.push(("tunnels", s(TUNNELS)));
        }
        debug.sort_by(|a, b| a.0.cmp(b.0));
        let mut debug_data = Map::new();
        for (key, value) in debug {
            debug_data.insert(key.to_owned(), value);
        }

        let geo = geo_context(origin.place);
        let agent = origin.agent;
        let client = obj([
            ("userAgent", obj([("rawUserAgent", s(agent.raw)), ("os", s(agent.os)), ("browser", s(agent.browser))])),
            ("zone", s("null")),
            ("device", s(agent.device)),
            ("id", client_id.map_or(Value::Null, Value::String)),
            ("ipAddress", s(&origin.ip)),
            ("geographicalContext", geo.clone()),
        ]);
        let n = origin.net;
        let mut security = obj([
            ("asNumber", Value::from(n.asn)),
            ("asOrg", s(n.org)),
            ("isp", s(n.isp)),
            ("domain", s(n.domain)),
            ("isProxy", Value::Bool(origin.proxy)),
        ]);
        let mut hop = obj([
            ("ip", s(&origin.ip)),
            ("geographicalContext", geo),
            ("version", s(if origin.ip.contains(':') { "V6" } else { "V4" })),
            ("source", Value::Null),
        ]);
        if origin.proxy {
            for holder in [&mut security, &mut hop] {
                if let Value::Object(map) = holder {
                    map.insert("ipDetails".to_owned(), ip_details(n));
                }
            }
        }
        let authentication = obj([
            ("authenticationProvider", opt(authn.provider)),
            ("credentialProvider", opt(authn.credential_provider)),
            ("credentialType", opt(authn.credential_type)),
            ("issuer", authn.issuer),
            ("interface", opt(authn.interface)),
            ("authenticationStep", Value::from(0)),
            ("rootSessionId", authn.root_session.map_or(Value::Null, Value::String)),
            ("externalSessionId", Value::String(authn.external_session)),
        ]);
        obj([
            ("uuid", Value::String(uuid)),
            ("published", Value::String(crate::time::format_ms(ms))),
            ("eventType", s(event_type)),
            ("version", s("0")),
            ("severity", s(severity)),
            ("legacyEventType", opt(legacy)),
            ("displayMessage", s(message)),
            ("actor", actor),
            ("client", client),
            ("device", device),
            ("authenticationContext", authentication),
            ("securityContext", security),
            ("debugContext", obj([("debugData", Value::Object(debug_data))])),
            ("outcome", obj([("result", s(result)), ("reason", opt(reason))])),
            ("target", if targets.is_empty() { Value::Null } else { Value::Array(targets) }),
            ("transaction", obj([("type", s("WEB")), ("id", Value::String(request_id)), ("detail", txn_detail)])),
            ("request", obj([("ipChain", Value::Array(vec![hop]))])),
        ])
    }

    // ----- background

    fn background_event(&mut self, ms: i64) -> Value {
        let mut roll = self.rng.u16(..10_000);
        let mut kind = Kind::SessionStart;
        for (k, weight) in MIX {
            if roll < weight {
                kind = k;
                break;
            }
            roll -= weight;
        }
        match kind {
            Kind::SessionStart => {
                let u = self.pick_user();
                let session = session_id(&mut self.rng);
                self.org.users[u].session.clone_from(&session);
                let signals = self.everyday_behaviors();
                let (dt_hash, fingerprint) = self.usual_browser(u);
                let draft = self.session_start(u, self.user_origin(u), &session, signals, (&dt_hash, &fingerprint));
                self.emit(ms, draft)
            }
            Kind::Sso => {
                let u = self.pick_user();
                let app = self.rng.usize(SSO_APPS);
                let session = self.org.users[u].session.clone();
                let (dt_hash, _) = self.usual_browser(u);
                let draft = self.sso(u, app, self.user_origin(u), &session, &dt_hash);
                self.emit(ms, draft)
            }
            Kind::EvaluateSignOn => {
                let u = self.pick_user();
                let app = if self.org.admins.contains(&u) && self.rng.u8(..4) == 0 {
                    ADMIN_CONSOLE
                } else if self.rng.bool() {
                    DASHBOARD
                } else {
                    self.rng.usize(SSO_APPS)
                };
                let signals = self.everyday_behaviors();
                let session = self.org.users[u].session.clone();
                let (dt_hash, fingerprint) = self.usual_browser(u);
                let origin = self.user_origin(u);
                let draft = self.evaluate_sign_on(u, app, origin, &session, signals, (&dt_hash, &fingerprint));
                self.emit(ms, draft)
            }
            Kind::AuthViaMfa => {
                let u = self.pick_user();
                let fastpass = !self.org.users[u].device.is_null() && self.rng.bool();
                let signals = self.everyday_behaviors();
                let session = self.org.users[u].session.clone();
                let (dt_hash, fingerprint) = self.usual_browser(u);
                let origin = self.user_origin(u);
                let draft = self.auth_via_mfa(u, origin, &session, fastpass, signals, (&dt_hash, &fingerprint));
                self.emit(ms, draft)
            }
            Kind::Verify => self.verify(ms),
            Kind::SessionEnd => {
                let u = self.pick_user();
                let mut draft = Draft::new(
                    "user.session.end",
                    Some("core.user_auth.logout_success"),
                    "User logout from Okta",
                    self.user_actor(u),
                    self.user_origin(u),
                )
                .uri("/login/signout")
                .debug("threatSuspected", "false");
                draft.authn = Authn::session(&self.org.users[u].session);
                self.emit(ms, draft)
            }
            Kind::TokenGrant => self.token_grant(ms),
            Kind::LoginFailure => {
                let u = self.pick_user();
                let (behaviors, _) = self.everyday_behaviors();
                let (dt_hash, fingerprint) = self.usual_browser(u);
                let origin = self.user_origin(u);
                let draft = self.login_failure(u, origin, (behaviors, "{level=LOW}"), (&dt_hash, &fingerprint), false);
                self.emit(ms, draft)
            }
            Kind::GroupAdd => self.group_membership(ms, true),
            Kind::GroupRemove => self.group_membership(ms, false),
            Kind::AppAssign => self.app_assign(ms),
            Kind::ProfileUpdate => self.profile_update(ms),
            Kind::UserCreate => self.user_create(ms),
            Kind::UserActivate => self.user_activate(ms),
            Kind::FactorActivate => self.factor_activate(ms),
            Kind::RateLimitWarning => self.rate_limit_warning(ms),
            Kind::RuleUpdate => self.rule_update(ms),
            Kind::AccountLock => {
                let u = self.pick_user();
                let (dt_hash, fingerprint) = self.usual_browser(u);
                let draft = self.account_lock(u, self.user_origin(u), (&dt_hash, &fingerprint), false);
                self.emit(ms, draft)
            }
            Kind::PushSend => {
                let u = self.pick_user();
                let session = self.org.users[u].session.clone();
                let push = alnum(&mut self.rng, 20);
                let (dt_hash, _) = self.usual_browser(u);
                let draft = self.push_send(u, self.user_origin(u), &session, &push, &dt_hash);
                self.emit(ms, draft)
            }
            Kind::AdminAppAccess => {
                let u = self.pick_admin();
                let session = self.org.users[u].session.clone();
                let (dt_hash, _) = self.usual_browser(u);
                let origin = self.user_origin(u);
                let draft = self.admin_app_access(u, origin, &session, &dt_hash);
                self.emit(ms, draft)
            }
            Kind::ResetPassword => self.reset_password(ms),
            Kind::ZoneUpdate => self.zone_update(ms),
            Kind::ApiTokenCreate => {
                let u = self.pick_admin();
                let session = self.org.users[u].session.clone();
                let names = ["siem-collector", "terraform", "scim-bridge", "backup-audit"];
                let name = names[self.rng.usize(..names.len())];
                let network = if self.rng.bool() { "ZONE" } else { "ANYWHERE" };
                let origin = self.user_origin(u);
                let draft = self.api_token_create(u, origin, &session, name, network);
                self.emit(ms, draft)
            }
        }
    }

    // ----- event builders shared by background and scenarios

    /// `user.session.start` SUCCESS; `browser` is `(dtHash, deviceFingerprint)`.
    fn session_start(&self, u: usize, origin: Origin, session: &str, signals: Signals, browser: (&str, &str)) -> Draft {
        let mut draft = Draft::new(
            "user.session.start",
            Some("core.user_auth.login_success"),
            "User login to Okta",
            self.user_actor(u),
            origin,
        )
        .uri("/idp/idx/identify")
        .debug("threatSuspected", "false");
        draft.authn = Authn::session(session);
        draft.authn.provider = Some("OKTA_AUTHENTICATION_PROVIDER");
        draft.authn.credential_type = Some("PASSWORD");
        signin_debug(draft, signals, browser)
    }

    /// `user.session.start` FAILURE with INVALID_CREDENTIALS.
    fn login_failure(&self, u: usize, origin: Origin, signals: Signals, browser: (&str, &str), threat: bool) -> Draft {
        let mut draft = Draft::new(
            "user.session.start",
            Some("core.user_auth.login_failed"),
            "User login to Okta",
            self.user_actor(u),
            origin,
        )
        .uri("/idp/idx/challenge/answer")
        .debug("loginResult", "INVALID_CREDENTIALS")
        .debug("threatSuspected", if threat { "true" } else { "false" })
        .outcome("FAILURE", Some("INVALID_CREDENTIALS"));
        draft.severity = "WARN";
        draft.authn.provider = Some("OKTA_AUTHENTICATION_PROVIDER");
        signin_debug(draft, signals, browser)
    }

    fn account_lock(&self, u: usize, origin: Origin, browser: (&str, &str), threat: bool) -> Draft {
        let mut draft = Draft::new(
            "user.account.lock",
            Some("core.user_auth.account_locked"),
            "Max sign in attempts exceeded",
            self.user_actor(u),
            origin,
        )
        .uri("/idp/idx/challenge/answer")
        .debug("deviceFingerprint", browser.1)
        .debug("dtHash", browser.0)
        .debug("threatSuspected", if threat { "true" } else { "false" })
        .outcome("FAILURE", Some("LOCKED_OUT"));
        draft.severity = "WARN";
        draft.authn.provider = Some("OKTA_AUTHENTICATION_PROVIDER");
        draft
    }

    fn sso(&mut self, u: usize, app: usize, origin: Origin, session: &str, dt_hash: &str) -> Draft {
        let slug = APPS[app].2;
        let idp_initiated = self.rng.u8(..100) < 60;
        let authn_request = self.request_id();
        let mut draft = Draft::new(
            "user.authentication.sso",
            Some("app.auth.sso"),
            "User single sign on to app",
            self.user_actor(u),
            origin,
        )
        .uri(format!("/app/{slug}/{}/sso/saml", self.org.app_keys[app]))
        .debug("authnRequestId", authn_request)
        .debug("dtHash", dt_hash)
        .debug("initiationType", if idp_initiated { "IDP_INITIATED" } else { "SP_INITIATED" })
        .debug("signOnMode", "SAML 2.0")
        .debug("threatSuspected", "false")
        .target(self.app_target(app))
        .target(self.app_user_target(u, app));
        draft.authn = Authn::session(session);
        draft.authn.interface = Some("SAML 2.0");
        draft
    }

    fn evaluate_sign_on(
        &mut self,
        u: usize,
        app: usize,
        origin: Origin,
        session: &str,
        signals: Signals,
        browser: (&str, &str),
    ) -> Draft {
        let (p, r) = if origin.proxy || self.rng.u8(..100) < 40 {
            (1, 0) // off network: the MFA rule
        } else if self.rng.bool() {
            (1, 1)
        } else {
            (0, 0)
        };
        let policy = &self.org.policies[p];
        let (rule_id, rule_name, mode) = &policy.rules[r];
        let mut draft =
            Draft::new("policy.evaluate_sign_on", None, "Evaluation of sign-on policy", self.user_actor(u), origin)
                .uri("/idp/idx/identify")
                .debug("promptingPolicyTypes", "[OKTA_SIGN_ON]")
                .debug("threatSuspected", "false")
                .outcome("ALLOW", Some(SIGN_ON_ALLOW))
                .target(self.app_target(app))
                .target(entity(
                    &policy.id,
                    "PolicyEntity",
                    "unknown",
                    policy.name,
                    obj([("policyType", s("OktaSignOn"))]),
                ))
                .target(entity(rule_id, "PolicyRule", rule_id, rule_name, obj([("policyRuleFactorMode", s(mode))])));
        draft.authn = Authn::session(session);
        signin_debug(draft, signals, browser)
    }

    /// `user.authentication.auth_via_mfa` SUCCESS, by Okta FastPass (on the user's own device) or push.
    fn auth_via_mfa(
        &mut self,
        u: usize,
        origin: Origin,
        session: &str,
        fastpass: bool,
        signals: Signals,
        browser: (&str, &str),
    ) -> Draft {
        let authn_request = self.request_id();
        let transaction = alnum(&mut self.rng, 28);
        let user = &self.org.users[u];
        let draft = Draft::new(
            "user.authentication.auth_via_mfa",
            Some("core.user.factor.attempt_success"),
            "Authentication of user via MFA",
            self.user_actor(u),
            origin,
        )
        .debug("authnRequestId", authn_request)
        .debug("factorIntent", "AUTHENTICATION")
        .debug("threatSuspected", "false");
        let mut draft = if fastpass {
            let target = entity(
                &user.fastpass,
                "AuthenticatorEnrollment",
                "unknown",
                "Okta Verify",
                obj([
                    ("methodTypeUsed", s("Use Okta FastPass")),
                    (
                        "methodUsedVerifiedProperties",
                        s("[POSSESSION, HARDWARE_PROTECTED, USER_PRESENCE, PHISHING_RESISTANT]"),
                    ),
                ]),
            );
            let uri =
                format!("/idp/authenticators/{}/transactions/ft{transaction}/verify", self.org.fastpass_authenticator);
            let mut draft = draft
                .uri(uri)
                .debug("factor", "SIGNED_NONCE")
                .debug("keyTypeUsedForAuthentication", "PROOF_OF_POSSESSION")
                .target(target);
            draft.device = user.device.clone();
            draft
        } else {
            draft
                .uri("/idp/idx/authenticators/poll")
                .debug("factor", "OKTA_VERIFY_PUSH")
                .debug("pushOnlyResponseType", "ACCEPTED")
                .target(self.okta_verify_target(u, Some("Get a push notification")))
        }
        .target(self.app_target(DASHBOARD));
        draft.authn = Authn::session(session);
        draft.authn.provider = Some("FACTOR_PROVIDER");
        draft.authn.credential_provider = Some("OKTA_CREDENTIAL_PROVIDER");
        signin_debug(draft, signals, browser)
    }

    fn push_send(&self, u: usize, origin: Origin, session: &str, push: &str, dt_hash: &str) -> Draft {
        let mut draft = Draft::new(
            "system.push.send_factor_verify_push",
            None,
            "Push notification sent to user's device",
            self.user_actor(u),
            origin,
        )
        .uri("/idp/idx/challenge")
        .debug("dtHash", dt_hash)
        .debug("factor", "OKTA_VERIFY_PUSH")
        .debug("factorIntent", "AUTHENTICATION")
        .debug("pushTransactionId", push)
        .debug("threatSuspected", "false")
        .target(self.user_actor(u))
        .target(self.okta_verify_target(u, None));
        draft.authn = Authn::session(session);
        draft
    }

    /// The user taps "No, it's not me" in Okta Verify: logged from the phone, not the requesting browser.
    fn deny_push(&self, u: usize, session: &str, push: &str) -> Draft {
        let user = &self.org.users[u];
        let phone = Origin { agent: &OKTA_VERIFY_IOS, ..self.user_origin(u) };
        let mut draft = Draft::new("user.mfa.okta_verify.deny_push", None, PUSH_REJECTED, self.user_actor(u), phone)
            .uri(format!("/api/v1/authn/factors/{}/transactions/{push}/verify", user.okta_verify))
            .debug("factor", "OKTA_VERIFY_PUSH")
            .debug("factorIntent", "AUTHENTICATION")
            .debug("pushOnlyResponseType", "REJECTED")
            .debug("pushTransactionId", push)
            .outcome("FAILURE", Some(PUSH_REJECTED))
            .target(self.user_actor(u))
            .target(self.okta_verify_target(u, None));
        draft.severity = "WARN";
        draft.authn = Authn::session(session);
        draft
    }

    fn admin_app_access(&mut self, u: usize, origin: Origin, session: &str, dt_hash: &str) -> Draft {
        let state = alnum(&mut self.rng, 32);
        let at_home = origin.ip == self.org.users[u].ip;
        let mut draft = Draft::new(
            "user.session.access_admin_app",
            Some("app.admin.sso.login.success"),
            "User accessing Okta admin app",
            self.user_actor(u),
            origin,
        )
        .uri("/admin/sso/callback")
        .debug("dtHash", dt_hash)
        .debug("threatSuspected", "false")
        .target(self.app_target(ADMIN_CONSOLE));
        draft.query = format!("code=******&state={state}");
        draft.authn = Authn::session(session);
        draft.authn.interface = Some("Okta Admin Console");
        if at_home {
            draft.device = self.org.users[u].device.clone();
        }
        draft
    }

    fn api_token_create(&mut self, u: usize, origin: Origin, session: &str, name: &str, network: &str) -> Draft {
        let token = okta_id(&mut self.rng, "00T");
        let at_home = origin.ip == self.org.users[u].ip;
        let mut draft = Draft::new(
            "system.api_token.create",
            Some("api.token.create"),
            "Create API token",
            self.user_actor(u),
            origin,
        )
        .uri("/api/internal/tokens")
        .debug("threatSuspected", "false")
        .target(entity(&token, "Token", "unknown", name, obj([("networkConnection", s(network))])));
        draft.authn = Authn::session(session);
        draft.authn.interface = Some("Okta Admin Console");
        if at_home {
            draft.device = self.org.users[u].device.clone();
        }
        draft
    }

    /// An admin action in the Admin Console, from the admin's usual machine.
    fn admin_draft(
        &self,
        a: usize,
        event_type: &'static str,
        legacy: Option<&'static str>,
        message: &'static str,
    ) -> Draft {
        let admin = &self.org.users[a];
        let mut draft = Draft::new(event_type, legacy, message, self.user_actor(a), self.user_origin(a))
            .debug("threatSuspected", "false");
        draft.authn = Authn::session(&admin.session);
        draft.device = admin.device.clone();
        draft
    }

    /// An API call by the provisioning service account with an SSWS token.
    fn api_draft(&mut self, event_type: &'static str, legacy: Option<&'static str>, message: &'static str) -> Draft {
        let external = format!("trs{}", alnum(&mut self.rng, 22));
        let p = &self.org.provisioner;
        let mut draft = Draft::new(event_type, legacy, message, person(p, "User"), Self::hq_origin(&p.ip, p.agent));
        draft.authn.external_session = external;
        draft.txn_detail = obj([("requestApiTokenId", s(&self.org.provisioning_token))]);
        draft
    }

    fn verify(&mut self, ms: i64) -> Value {
        let u = self.pick_user();
        let user = &self.org.users[u];
        let password = self.rng.u8(..100) < 55;
        let app = if self.org.admins.contains(&u) && self.rng.u8(..4) == 0 { ADMIN_CONSOLE } else { DASHBOARD };
        let mut authn = Authn::session(&user.session);
        let draft = Draft::new(
            "user.authentication.verify",
            None,
            "Verify user identity",
            self.user_actor(u),
            self.user_origin(u),
        )
        .debug("deviceFingerprint", user.fingerprint.as_str())
        .debug("dtHash", user.dt_hash.as_str())
        .debug("threatSuspected", "false");
        let draft = if password {
            authn.provider = Some("OKTA_AUTHENTICATION_PROVIDER");
            authn.credential_provider = Some("OKTA_CREDENTIAL_PROVIDER");
            authn.credential_type = Some("PASSWORD");
            draft.uri("/idp/idx/challenge/answer").target(entity(
                &user.password,
                "AuthenticatorEnrollment",
                "unknown",
                "Password",
                obj([("methodTypeUsed", s("Password")), ("methodUsedVerifiedProperties", s("[KNOWLEDGE]"))]),
            ))
        } else {
            authn.provider = Some("FACTOR_PROVIDER");
            authn.credential_provider = Some("OKTA_CREDENTIAL_PROVIDER");
            draft
                .uri("/idp/idx/authenticators/poll")
                .debug("factor", "OKTA_VERIFY_PUSH")
                .debug("factorIntent", "AUTHENTICATION")
                .debug("pushOnlyResponseType", "ACCEPTED")
                .target(self.okta_verify_target(u, Some("Get a push notification")))
        };
        let draft = draft.target(self.app_target(app));
        let draft = Draft { authn, ..draft };
        self.emit(ms, draft)
    }

    fn token_grant(&mut self, ms: i64) -> Value {
        let service = &self.org.services[self.rng.usize(..self.org.services.len())];
        let token = format!("AT.{}", alnum(&mut self.rng, 43));
        let hash = alnum(&mut self.rng, 22);
        let actor = entity(&service.id, "PublicClientApp", &service.id, service.name, Value::Null);
        let mut draft = Draft::new(
            "app.oauth2.as.token.grant",
            None,
            "OAuth2 access token is granted",
            actor,
            Self::hq_origin(&service.ip, service.agent),
        )
        .uri(format!("/oauth2/{}/v1/token", self.org.auth_server))
        .debug("clientAuthType", "private_key_jwt")
        .debug("grantType", "client_credentials")
        .debug("grantedScopes", service.scopes)
        .debug("requestedScopes", service.scopes)
        .debug("threatSuspected", "false")
        .debug("tokenLifetimeSeconds", "3600")
        .target(entity(
            &token,
            "access_token",
            "access_token v1",
            "Access Token",
            obj([
                ("expires", Value::String(crate::time::format_ms(ms.saturating_add(3_600_000)))),
                ("subject", s(&service.id)),
                ("hash", Value::String(hash)),
            ]),
        ));
        draft.client_id = Some(service.id.clone());
        draft.authn.credential_type = Some("OAuth 2.0");
        draft.authn.issuer = obj([("id", s(&self.org.auth_server)), ("type", s("AuthorizationServer"))]);
        self.emit(ms, draft)
    }

    fn group_membership(&mut self, ms: i64, add: bool) -> Value {
        let u = self.pick_user();
        let g = self.rng.usize(1..GROUPS.len());
        let (event_type, legacy, message) = if add {
            ("group.user_membership.add", "core.user_group_member.user_add", "Add user to group membership")
        } else {
            ("group.user_membership.remove", "core.user_group_member.user_remove", "Remove user from group membership")
        };
        let draft = if self.rng.u8(..100) < 30 {
            self.api_draft(event_type, Some(legacy), message)
        } else {
            let a = self.pick_admin();
            self.admin_draft(a, event_type, Some(legacy), message)
        };
        let draft = draft
            .uri(format!("/api/v1/groups/{}/users/{}", self.org.groups[g], self.org.users[u].id))
            .target(self.user_actor(u))
            .target(self.group_target(g));
        self.emit(ms, draft)
    }

    fn app_assign(&mut self, ms: i64) -> Value {
        let u = self.pick_user();
        let app = self.rng.usize(SSO_APPS);
        let a = self.pick_admin();
        let draft = self
            .admin_draft(
                a,
                "application.user_membership.add",
                Some("app.generic.provision.assign_user_to_app"),
                "Add user to application membership",
            )
            .uri(format!("/api/v1/apps/{}/users", self.org.apps[app]))
            .target(self.app_user_target(u, app))
            .target(self.app_target(app))
            .target(self.user_actor(u));
        self.emit(ms, draft)
    }

    fn profile_update(&mut self, ms: i64) -> Value {
        let u = self.pick_user();
        let changes = ["mobilePhone", "mobilePhone, secondEmail", "title, department", "nickName", "city, countryCode"];
        let changed = changes[self.rng.usize(..changes.len())];
        let self_service = self.rng.u8(..100) < 70;
        let (mut draft, uri) = if self_service {
            let user = &self.org.users[u];
            let mut draft = Draft::new(
                "user.account.update_profile",
                Some("core.user.config.profile_update.success"),
                "Update user profile for Okta",
                self.user_actor(u),
                self.user_origin(u),
            )
            .debug("threatSuspected", "false");
            draft.authn = Authn::session(&user.session);
            (draft, "/api/v1/users/me".to_owned())
        } else {
            let a = self.pick_admin();
            let draft = self.admin_draft(
                a,
                "user.account.update_profile",
                Some("core.user.config.profile_update.success"),
                "Update user profile for Okta",
            );
            (draft, format!("/api/v1/users/{}", self.org.users[u].id))
        };
        draft = draft.uri(uri).debug("changedAttributes", changed).target(self.user_actor(u));
        self.emit(ms, draft)
    }

    /// A new hire who is not (yet) one of the org's regular users.
    fn new_hire(&mut self) -> Value {
        let first = FIRST_NAMES[self.rng.usize(..FIRST_NAMES.len())];
        let last = LAST_NAMES[self.rng.usize(..LAST_NAMES.len())];
        let mut login = format!("{}.{}@example.com", first.to_lowercase(), last.to_lowercase());
        if self.org.users.iter().any(|u| u.login == login) {
            login = format!("{}.{}{}@example.com", first.to_lowercase(), last.to_lowercase(), self.rng.u8(2..10));
        }
        let id = okta_id(&mut self.rng, "00u");
        entity(&id, "User", &login, &format!("{first} {last}"), Value::Null)
    }

    fn user_create(&mut self, ms: i64) -> Value {
        let hire = self.new_hire();
        let mut draft = self
            .api_draft("user.lifecycle.create", Some("core.user.config.user_creation.success"), "Create Okta user")
            .uri("/api/v1/users")
            .target(hire);
        draft.query = "activate=false".to_owned();
        self.emit(ms, draft)
    }

    fn user_activate(&mut self, ms: i64) -> Value {
        let hire = self.new_hire();
        let id = hire["id"].as_str().unwrap_or_default().to_owned();
        let a = self.pick_admin();
        let mut draft = self
            .admin_draft(a, "user.lifecycle.activate", Some("core.user.config.user_activated"), "Activate Okta user")
            .uri(format!("/api/v1/users/{id}/lifecycle/activate"))
            .target(hire);
        draft.query = "sendEmail=true".to_owned();
        self.emit(ms, draft)
    }

    fn reset_password(&mut self, ms: i64) -> Value {
        let u = self.pick_user();
        let a = self.pick_admin();
        let mut draft = self
            .admin_draft(
                a,
                "user.account.reset_password",
                Some("core.user.config.user_status.password_reset"),
                "Fired when the user's Okta password is reset",
            )
            .uri(format!("/api/v1/users/{}/lifecycle/reset_password", self.org.users[u].id))
            .target(self.user_actor(u));
        draft.query = "sendEmail=true".to_owned();
        self.emit(ms, draft)
    }

    fn factor_activate(&mut self, ms: i64) -> Value {
        let u = self.pick_user();
        let user = &self.org.users[u];
        // (factor, credential provider, enrollment prefix, authenticator name)
        let factors = [
            ("OKTA_VERIFY_PUSH", "OKTA_CREDENTIAL_PROVIDER", "opf", "Okta Verify"),
            ("FIDO_WEBAUTHN", "YUBIKEY", "fwf", "Security Key or Biometric"),
            ("TOTP", "GOOGLE", "uft", "Google Authenticator"),
        ];
        let (factor, provider, prefix, name) = factors[self.rng.usize(..factors.len())];
        let enrollment = okta_id(&mut self.rng, prefix);
        let mut draft = Draft::new(
            "user.mfa.factor.activate",
            Some("core.user.factor.activate"),
            "User set up factor",
            self.user_actor(u),
            self.user_origin(u),
        )
        .uri("/idp/idx/challenge/answer")
        .debug("factor", factor)
        .debug("factorIntent", "ENROLLMENT")
        .debug("threatSuspected", "false")
        .target(self.user_actor(u))
        .target(entity(&enrollment, "AuthenticatorEnrollment", "unknown", name, Value::Null));
        draft.authn = Authn::session(&user.session);
        draft.authn.credential_provider = Some(provider);
        draft.device = user.device.clone();
        self.emit(ms, draft)
    }

    fn rate_limit_warning(&mut self, ms: i64) -> Value {
        let buckets = [("/api/v1/logs", "120"), ("/api/v1/users", "600"), ("/oauth2/v1/token", "600")];
        let (bucket, limit) = buckets[self.rng.usize(..buckets.len())];
        let actor =
            entity(&self.org.system_principal, "SystemPrincipal", "system@okta.com", "Okta System", Value::Null);
        let mut draft = Draft::new(
            "system.org.rate_limit.warning",
            None,
            "Rate limit warning",
            actor,
            Self::hq_origin("198.51.100.10", &PYTHON_REQUESTS),
        )
        .uri(bucket)
        .debug("rateLimitBucketUri", bucket)
        .debug("rateLimitLimit", limit)
        .debug("rateLimitScope", "ORG")
        .debug("rateLimitSecondsToReset", self.rng.u8(5..60).to_string())
        .debug("rateLimitUsedPercent", "90")
        .debug("rateLimitWindow", "1 minute");
        draft.severity = "WARN";
        draft.txn_detail = obj([("requestApiTokenId", s(&self.org.siem_token))]);
        self.emit(ms, draft)
    }

    fn rule_update(&mut self, ms: i64) -> Value {
        let a = self.pick_admin();
        let p = self.rng.usize(..self.org.policies.len());
        let policy = &self.org.policies[p];
        let (rule_id, rule_name, _) = &policy.rules[self.rng.usize(..policy.rules.len())];
        let sign_on = || obj([("policyType", s("OktaSignOn"))]);
        let mut draft = self
            .admin_draft(a, "policy.rule.update", None, "Update policy rule")
            .uri(format!("/api/v1/policies/{}/rules/{rule_id}", policy.id))
            .target(entity(rule_id, "PolicyRule", rule_id, rule_name, sign_on()))
            .target(entity(&policy.id, "PolicyEntity", "unknown", policy.name, sign_on()));
        draft.authn.interface = Some("Okta Admin Console");
        self.emit(ms, draft)
    }

    fn zone_update(&mut self, ms: i64) -> Value {
        let a = self.pick_admin();
        let zone = &self.org.zone_id;
        let draft = self
            .admin_draft(a, "zone.update", None, "Update network zone")
            .uri(format!("/api/v1/zones/{zone}"))
            .target(entity(zone, "NetworkZone", "Corporate Offices", "Corporate Offices", Value::Null));
        self.emit(ms, draft)
    }

    // ----- scenarios

    fn brute_force(&mut self, at_ms: i64) -> Vec<(i64, Value)> {
        let victim = self.pick_user();
        let agent = if self.rng.bool() { &PYTHON_REQUESTS } else { &HEADLESS_CHROME };
        let origin = self.attacker_origin(agent, &HOSTING_NET, false);
        let dt_hash = hex(&mut self.rng, 64);
        let fingerprint = hex(&mut self.rng, 32);
        let browser = (dt_hash.as_str(), fingerprint.as_str());
        let mut ms = at_ms;
        let mut events = Vec::with_capacity(BRUTE_FORCE_ATTEMPTS + 1);
        for attempt in 0..BRUTE_FORCE_ATTEMPTS {
            if attempt > 0 {
                ms += self.rng.i64(2_000..9_000);
            }
            // ThreatInsight starts flagging the source after a handful of failures.
            let threat = attempt >= 10;
            let risk = if threat { HIGH_RISK } else { "{reasons=Anomalous Location, level=MEDIUM}" };
            let draft = self.login_failure(victim, origin.clone(), (ALL_POSITIVE, risk), browser, threat);
            events.push((ms, self.emit(ms, draft)));
        }
        let lock_ms = ms + self.rng.i64(200..1_500);
        let draft = self.account_lock(victim, origin, browser, true);
        events.push((lock_ms, self.emit(lock_ms, draft)));
        events
    }

    fn push_bombing(&mut self, at_ms: i64) -> Vec<(i64, Value)> {
        let victim = self.pick_user();
        let origin = self.attacker_origin(&CHROME_WIN, &CLOUD_NET, false);
        let session = session_id(&mut self.rng);
        let dt_hash = hex(&mut self.rng, 64);
        let fingerprint = hex(&mut self.rng, 32);
        let browser = (dt_hash.as_str(), fingerprint.as_str());
        let mut events = Vec::with_capacity(2 * PUSH_DENIALS + 3);
        let mut ms = at_ms;
        for round in 0..=PUSH_DENIALS {
            let push = alnum(&mut self.rng, 20);
            let draft = self.push_send(victim, origin.clone(), &session, &push, &dt_hash);
            events.push((ms, self.emit(ms, draft)));
            if round < PUSH_DENIALS {
                let deny_ms = ms + self.rng.i64(4_000..20_000);
                let draft = self.deny_push(victim, &session, &push);
                events.push((deny_ms, self.emit(deny_ms, draft)));
                ms += self.rng.i64(45_000..60_000);
            }
        }
        // The worn-down user finally approves the last push.
        let mfa_ms = ms + self.rng.i64(5_000..15_000);
        let draft = self.auth_via_mfa(victim, origin.clone(), &session, false, ATTACK, browser);
        events.push((mfa_ms, self.emit(mfa_ms, draft)));
        let start_ms = mfa_ms + self.rng.i64(1_000..3_000);
        let draft = self.session_start(victim, origin, &session, ATTACK, browser);
        events.push((start_ms, self.emit(start_ms, draft)));
        events
    }

    fn privilege_grant(&mut self, at_ms: i64) -> Vec<(i64, Value)> {
        let admin = self.pick_admin();
        let grantee = self.pick_non_admin();
        let origin = self.attacker_origin(&FIREFOX_WIN, &HOSTING_NET, false);
        let admin_session = self.org.users[admin].session.clone();
        let grantee_id = self.org.users[grantee].id.clone();
        let mut events = Vec::with_capacity(4);

        let mut draft = Draft::new(
            "user.account.privilege.grant",
            Some("core.user.admin_privilege.granted"),
            "Grant user privilege",
            self.user_actor(admin),
            origin.clone(),
        )
        .uri(format!("/api/v1/users/{grantee_id}/roles"))
        .debug("privilegeGranted", SUPER_ADMIN)
        .debug("threatSuspected", "false")
        .target(self.user_actor(grantee));
        draft.authn = Authn::session(&admin_session);
        draft.authn.interface = Some("Okta Admin Console");
        events.push((at_ms, self.emit(at_ms, draft)));

        let session = session_id(&mut self.rng);
        let dt_hash = hex(&mut self.rng, 64);
        let fingerprint = hex(&mut self.rng, 32);
        let mut ms = at_ms + self.rng.i64(30_000..90_000);
        let draft = self.session_start(grantee, origin.clone(), &session, ATTACK, (&dt_hash, &fingerprint));
        events.push((ms, self.emit(ms, draft)));

        ms += self.rng.i64(5_000..20_000);
        let draft = self.admin_app_access(grantee, origin.clone(), &session, &dt_hash);
        events.push((ms, self.emit(ms, draft)));

        ms += self.rng.i64(20_000..60_000);
        let names = ["backup-sync", "svc-integration", "okta-export"];
        let name = names[self.rng.usize(..names.len())];
        let draft = self.api_token_create(grantee, origin, &session, name, "ANYWHERE");
        events.push((ms, self.emit(ms, draft)));
        events
    }

    fn proxy_session(&mut self, at_ms: i64) -> Vec<(i64, Value)> {
        let victim = self.pick_user();
        let agent = if std::ptr::eq(self.org.users[victim].agent, &CHROME_WIN) { &FIREFOX_WIN } else { &CHROME_WIN };
        let origin = self.attacker_origin(agent, &VPN_NET, true);
        let session = session_id(&mut self.rng);
        let dt_hash = hex(&mut self.rng, 64);
        let fingerprint = hex(&mut self.rng, 32);
        let browser = (dt_hash.as_str(), fingerprint.as_str());
        let mut events = Vec::with_capacity(3);

        let draft = self.evaluate_sign_on(victim, DASHBOARD, origin.clone(), &session, ATTACK, browser);
        events.push((at_ms, self.emit(at_ms, draft)));

        let ms = at_ms + self.rng.i64(2_000..8_000);
        let draft = self.session_start(victim, origin.clone(), &session, ATTACK, browser);
        events.push((ms, self.emit(ms, draft)));

        let ms = ms + self.rng.i64(10_000..40_000);
        let app = self.rng.usize(SSO_APPS);
        let draft = self.sso(victim, app, origin, &session, &dt_hash);
        events.push((ms, self.emit(ms, draft)));
        events
    }
}

// ---------------------------------------------------------------------------------------------------------
// Small helpers.

/// Builds a JSON object, keeping the given key order (with serde_json's `preserve_order`).
fn obj<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    let mut map = Map::new();
    for (key, value) in pairs {
        map.insert(key.to_owned(), value);
    }
    Value::Object(map)
}

fn s(text: &str) -> Value {
    Value::String(text.to_owned())
}

fn opt(text: Option<&str>) -> Value {
    text.map_or(Value::Null, s)
}

/// An actor or target: `{id, type, alternateId, displayName, detailEntry}`.
fn entity(id: &str, kind: &str, alternate_id: &str, display_name: &str, detail: Value) -> Value {
    obj([
        ("id", s(id)),
        ("type", s(kind)),
        ("alternateId", s(alternate_id)),
        ("displayName", s(display_name)),
        ("detailEntry", detail),
    ])
}

fn person(user: &User, kind: &str) -> Value {
    entity(&user.id, kind, &user.login, &user.name, Value::Null)
}

fn geo_context(place: &Place) -> Value {
    obj([
        ("city", s(place.city)),
        ("state", s(place.state)),
        ("country", s(place.country)),
        ("postalCode", s(place.postal)),
        ("geolocation", obj([("lat", Value::from(place.lat)), ("lon", Value::from(place.lon))])),
    ])
}

fn ip_details(n: &Net) -> Value {
    obj([
        ("asNumber", Value::from(n.asn)),
        ("asOrg", s(n.org)),
        ("domain", s(n.domain)),
        ("isp", s(n.isp)),
        (
            "ipServiceCategories",
            Value::Array(vec![obj([
                ("type", s("VPN")),
                ("operator", s(VPN_OPERATOR)),
                ("isAnonymous", Value::Bool(true)),
            ])]),
        ),
    ])
}

/// The sign-in telemetry Okta attaches to authentication events.
fn signin_debug(draft: Draft, (behaviors, risk): Signals, browser: (&str, &str)) -> Draft {
    draft
        .debug("behaviors", behavior_string(behaviors))
        .debug("deviceFingerprint", browser.1)
        .debug("dtHash", browser.0)
        .debug("risk", risk)
}

/// `debugData.behaviors`: a Java `Map.toString()` string.
fn behavior_string(flags: [bool; 7]) -> String {
    let mut out = String::with_capacity(160);
    out.push('{');
    for (i, (name, positive)) in BEHAVIOR_NAMES.iter().zip(flags).enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(name);
        out.push('=');
        out.push_str(if positive { "POSITIVE" } else { "NEGATIVE" });
    }
    out.push('}');
    out
}

/// A random version 4 UUID.
pub(super) fn uuid(rng: &mut fastrand::Rng) -> String {
    let hi = rng.u64(..);
    let lo = rng.u64(..);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        (hi & 0x0fff) | 0x4000,
        ((lo >> 48) & 0x3fff) | 0x8000,
        lo & 0xffff_ffff_ffff
    )
}

const ALNUM: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `len` random letters and digits.
pub(super) fn alnum(rng: &mut fastrand::Rng, len: usize) -> String {
    (0..len).map(|_| char::from(ALNUM[rng.usize(..ALNUM.len())])).collect()
}

/// An Okta object id: a 3-letter prefix and 17 alphanumerics.
fn okta_id(rng: &mut fastrand::Rng, prefix: &str) -> String {
    let mut id = String::with_capacity(20);
    id.push_str(prefix);
    id.push_str(&alnum(rng, 20 - prefix.len().min(20)));
    id
}

fn session_id(rng: &mut fastrand::Rng) -> String {
    format!("idx{}", alnum(rng, 22))
}

fn hex(rng: &mut fastrand::Rng, len: usize) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    (0..len).map(|_| char::from(DIGITS[rng.usize(..16)])).collect()
}

/// FNV-1a, to fold the org domain into the seed.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::net::IpAddr;

    const FROM: i64 = 1_790_000_000_000; // 2026-09-21
    const TO: i64 = FROM + 86_400_000;

    fn render(events: &[Value]) -> String {
        events.iter().map(Value::to_string).collect::<Vec<_>>().join("\n")
    }

    fn everything(seed: u64, domain: &str) -> String {
        let mut generator = Generator::new(seed, domain);
        let mut out = render(&generator.background(FROM, TO, 500));
        for scenario in ALL_SCENARIOS {
            out.push_str(&render(&generator.scenario(scenario, TO)));
        }
        out
    }

    fn str_at<'a>(event: &'a Value, pointer: &str) -> &'a str {
        event.pointer(pointer).and_then(Value::as_str).unwrap_or_else(|| panic!("no string at {pointer}: {event}"))
    }

    fn types(events: &[Value]) -> Vec<&str> {
        events.iter().map(|e| str_at(e, "/eventType")).collect()
    }

    /// Days since 1970-01-01 of a civil date, the inverse of `civil_from_days`, written independently.
    fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
        let y = if month <= 2 { year - 1 } else { year };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (month + 9) % 12;
        let doy = (153 * mp + 2) / 5 + day - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    fn parse_published(text: &str) -> i64 {
        assert_eq!(text.len(), 24, "{text}");
        assert!(text.ends_with('Z') && &text[4..5] == "-" && &text[10..11] == "T" && &text[19..20] == ".", "{text}");
        let num = |range: std::ops::Range<usize>| text[range].parse::<i64>().unwrap();
        let days = days_from_civil(num(0..4), num(5..7), num(8..10));
        ((days * 24 + num(11..13)) * 60 + num(14..16)) * 60_000 + num(17..19) * 1_000 + num(20..23)
    }

    fn allowed_ip(ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(v4) => matches!(v4.octets(), [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _]),
            IpAddr::V6(v6) => v6.segments()[..2] == [0x2001, 0x0db8],
        }
    }

    /// Every string that is an IP address must be a documentation address, and every `ip`/`ipAddress` must be one.
    fn check_ips(value: &Value, key: &str) {
        match value {
            Value::String(text) => {
                let parsed = text.parse::<IpAddr>();
                if key == "ip" || key == "ipAddress" {
                    assert!(parsed.is_ok(), "{key} is not an IP: {text}");
                }
                if let Ok(ip) = parsed {
                    assert!(allowed_ip(ip), "{key}: {ip} is not a documentation address");
                }
            }
            Value::Array(items) => items.iter().for_each(|item| check_ips(item, key)),
            Value::Object(map) => map.iter().for_each(|(k, v)| check_ips(v, k)),
            _ => {}
        }
    }

    /// Every e-mail address and network domain is under example.com/.net/.org (or Okta's own system@okta.com).
    fn check_domains(value: &Value, key: &str) {
        let allowed = |domain: &str| {
            ["example.com", "example.net", "example.org"]
                .iter()
                .any(|base| domain == *base || domain.ends_with(&format!(".{base}")))
        };
        match value {
            Value::String(text) => {
                if let Some((_, domain)) = text.split_once('@') {
                    assert!(allowed(domain) || text == "system@okta.com", "{key}: {text}");
                }
                if key == "domain" {
                    assert!(allowed(text), "domain {text}");
                }
            }
            Value::Array(items) => items.iter().for_each(|item| check_domains(item, key)),
            Value::Object(map) => map.iter().for_each(|(k, v)| check_domains(v, k)),
            _ => {}
        }
    }

    fn check_shape(event: &Value) {
        const KEYS: [&str; 17] = [
            "uuid",
            "published",
            "eventType",
            "version",
            "severity",
            "legacyEventType",
            "displayMessage",
            "actor",
            "client",
            "device",
            "authenticationContext",
            "securityContext",
            "debugContext",
            "outcome",
            "target",
            "transaction",
            "request",
        ];
        let map = event.as_object().unwrap();
        assert_eq!(map.len(), 17, "{event}");
        for key in KEYS {
            assert!(map.contains_key(key), "missing {key}: {event}");
        }
        let uuid = str_at(event, "/uuid");
        let groups: Vec<&str> = uuid.split('-').collect();
        assert_eq!(groups.iter().map(|g| g.len()).collect::<Vec<_>>(), [8, 4, 4, 4, 12], "{uuid}");
        assert!(uuid.chars().all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c)), "{uuid}");
        assert!(groups[2].starts_with('4') && "89ab".contains(&groups[3][..1]), "not v4: {uuid}");
        assert_eq!(str_at(event, "/version"), "0");
        assert_eq!(str_at(event, "/transaction/type"), "WEB");
        assert_eq!(str_at(event, "/transaction/id"), str_at(event, "/debugContext/debugData/requestId"));
        assert_eq!(str_at(event, "/client/zone"), "null");
        assert_eq!(str_at(event, "/client/ipAddress"), str_at(event, "/request/ipChain/0/ip"));
        assert!(event["actor"]["detailEntry"].is_null());
        assert!(event["target"].is_null() || !event["target"].as_array().unwrap().is_empty());
        assert!(event["debugContext"]["debugData"].as_object().unwrap().values().all(Value::is_string));
        check_ips(event, "");
        check_domains(event, "");
    }

    #[test]
    fn same_seed_same_events_and_other_seed_or_domain_other_events() {
        let a = everything(7, "acme.example.com");
        assert_eq!(a, everything(7, "acme.example.com"));
        assert_ne!(a, everything(8, "acme.example.com"));
        assert_ne!(a, everything(7, "globex.example.com"));
    }

    #[test]
    fn background_is_exact_sorted_in_range_and_unique() {
        let mut generator = Generator::new(42, "acme.example.com");
        for (from, to, count) in [(FROM, TO, 5_000), (FROM, FROM + 1_000, 300), (FROM, FROM + 1, 3), (FROM, TO, 0)] {
            let events = generator.background(from, to, count);
            assert_eq!(events.len(), count);
            let times: Vec<i64> = events.iter().map(|e| parse_published(str_at(e, "/published"))).collect();
            assert!(times.windows(2).all(|w| w[0] <= w[1]), "not sorted");
            assert!(times.iter().all(|t| (from..to).contains(t)), "out of range");
            let uuids: HashSet<&str> = events.iter().map(|e| str_at(e, "/uuid")).collect();
            assert_eq!(uuids.len(), count, "duplicate uuids");
            events.iter().for_each(check_shape);
        }
    }

    #[test]
    fn background_mix_follows_the_weights() {
        let events = Generator::new(3, "acme.example.com").background(FROM, TO, 20_000);
        let share = |event_type: &str, result: &str| {
            let n = events
                .iter()
                .filter(|e| str_at(e, "/eventType") == event_type && str_at(e, "/outcome/result") == result)
                .count();
            n as f64 / events.len() as f64
        };
        let near = |actual: f64, expected: f64| (actual - expected).abs() < expected * 0.2 + 0.002;
        for (event_type, result, expected) in [
            ("user.session.start", "SUCCESS", 0.20),
            ("user.authentication.sso", "SUCCESS", 0.20),
            ("policy.evaluate_sign_on", "ALLOW", 0.12),
            ("user.authentication.auth_via_mfa", "SUCCESS", 0.08),
            ("user.session.end", "SUCCESS", 0.08),
            ("app.oauth2.as.token.grant", "SUCCESS", 0.05),
            ("user.session.start", "FAILURE", 0.04),
            ("group.user_membership.add", "SUCCESS", 0.03),
            ("application.user_membership.add", "SUCCESS", 0.03),
            ("user.account.lock", "FAILURE", 0.005),
        ] {
            let actual = share(event_type, result);
            assert!(near(actual, expected), "{event_type} {result}: {actual} vs {expected}");
        }
        let distinct: HashSet<&str> = types(&events).into_iter().collect();
        assert_eq!(distinct.len(), 22, "{distinct:?}");
        assert!(events.iter().all(|e| !str_at(e, "/client/ipAddress").starts_with("203.0.113.")));
    }

    #[test]
    fn targets_follow_okta() {
        let events = Generator::new(5, "acme.example.com").background(FROM, TO, 5_000);
        let target_types = |event_type: &str| -> HashSet<Vec<String>> {
            events
                .iter()
                .filter(|e| str_at(e, "/eventType") == event_type)
                .map(|e| {
                    e["target"].as_array().map_or_else(Vec::new, |targets| {
                        targets.iter().map(|t| t["type"].as_str().unwrap().to_owned()).collect()
                    })
                })
                .collect()
        };
        let one = |kinds: &[&str]| HashSet::from([kinds.iter().map(|k| (*k).to_owned()).collect::<Vec<_>>()]);
        assert_eq!(target_types("user.authentication.sso"), one(&["AppInstance", "AppUser"]));
        assert_eq!(target_types("policy.evaluate_sign_on"), one(&["AppInstance", "PolicyEntity", "PolicyRule"]));
        assert_eq!(target_types("group.user_membership.add"), one(&["User", "UserGroup"]));
        assert_eq!(target_types("user.mfa.factor.activate"), one(&["User", "AuthenticatorEnrollment"]));
        assert_eq!(target_types("user.session.start"), one(&[]));
        let policy = events.iter().find(|e| str_at(e, "/eventType") == "policy.evaluate_sign_on").unwrap();
        assert_eq!(str_at(policy, "/target/1/detailEntry/policyType"), "OktaSignOn");
        let grant = events.iter().find(|e| str_at(e, "/eventType") == "app.oauth2.as.token.grant").unwrap();
        assert_eq!(str_at(grant, "/actor/type"), "PublicClientApp");
        assert_eq!(str_at(grant, "/client/id"), str_at(grant, "/actor/id"));
        assert_eq!(str_at(grant, "/authenticationContext/credentialType"), "OAuth 2.0");
    }

    #[test]
    fn org_is_stable_and_well_formed() {
        let org = &Generator::new(11, "acme.example.com").org;
        assert_eq!(org.users.len(), 40);
        assert!((2..=3).contains(&org.admins.len()));
        let ids: HashSet<&str> = org.users.iter().map(|u| u.id.as_str()).collect();
        assert_eq!(ids.len(), 40);
        for user in &org.users {
            assert!(
                user.id.len() == 20 && user.id.starts_with("00u") && user.id.chars().all(|c| c.is_ascii_alphanumeric())
            );
            assert!(user.login.ends_with("@example.com") && user.login.contains('.'));
            assert!(user.dt_hash.len() == 64 && user.dt_hash.chars().all(|c| c.is_ascii_hexdigit()));
            assert!(!user.ip.starts_with("203.0.113."));
        }
        assert!(org.groups.iter().all(|g| g.starts_with("00g") && g.len() == 20));
        assert!(org.apps.iter().all(|a| a.starts_with("0oa") && a.len() == 20));
        let again = &Generator::new(11, "acme.example.com").org;
        assert_eq!(format!("{org:?}"), format!("{again:?}"));
    }

    /// The scenario's events, checked for shape and order; returns them.
    fn staged(scenario: Scenario, seed: u64) -> Vec<Value> {
        let mut generator = Generator::new(seed, "acme.example.com");
        generator.background(FROM, TO, 200);
        let events = generator.scenario(scenario, TO);
        events.iter().for_each(check_shape);
        let times: Vec<i64> = events.iter().map(|e| parse_published(str_at(e, "/published"))).collect();
        assert_eq!(times[0], TO);
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        events
    }

    fn attacker_ip(events: &[Value]) -> &str {
        let ip = str_at(&events[0], "/client/ipAddress");
        assert!(ip.starts_with("203.0.113."), "{ip}");
        ip
    }

    #[test]
    fn brute_force_scenario() {
        for seed in 0..5 {
            let events = staged(Scenario::BruteForce, seed);
            let mut expected = vec!["user.session.start"; 25];
            expected.push("user.account.lock");
            assert_eq!(types(&events), expected);
            let ip = attacker_ip(&events);
            let actor = str_at(&events[0], "/actor/id");
            for event in &events {
                assert_eq!(str_at(event, "/client/ipAddress"), ip);
                assert_eq!(str_at(event, "/actor/id"), actor);
                assert_eq!(str_at(event, "/outcome/result"), "FAILURE");
            }
            assert!(events[..25].iter().all(|e| str_at(e, "/outcome/reason") == "INVALID_CREDENTIALS"));
            assert_eq!(str_at(&events[25], "/outcome/reason"), "LOCKED_OUT");
            let span = parse_published(str_at(&events[25], "/published")) - TO;
            assert!((60_000..600_000).contains(&span), "{span}");
        }
    }

    #[test]
    fn push_bombing_scenario() {
        for seed in 0..5 {
            let events = staged(Scenario::MfaPushBombing, seed);
            let mut expected = Vec::new();
            for _ in 0..8 {
                expected.extend(["system.push.send_factor_verify_push", "user.mfa.okta_verify.deny_push"]);
            }
            expected.extend([
                "system.push.send_factor_verify_push",
                "user.authentication.auth_via_mfa",
                "user.session.start",
            ]);
            assert_eq!(types(&events), expected);
            let ip = attacker_ip(&events);
            let actor = str_at(&events[0], "/actor/id");
            let session = str_at(&events[0], "/authenticationContext/externalSessionId");
            assert!(session.starts_with("idx"));
            for event in &events {
                assert_eq!(str_at(event, "/actor/id"), actor);
                assert_eq!(str_at(event, "/authenticationContext/rootSessionId"), session);
                let from_attacker = str_at(event, "/client/ipAddress") == ip;
                assert_eq!(from_attacker, str_at(event, "/eventType") != "user.mfa.okta_verify.deny_push");
            }
            for pair in events[..16].chunks(2) {
                assert_eq!(
                    str_at(&pair[0], "/debugContext/debugData/pushTransactionId"),
                    str_at(&pair[1], "/debugContext/debugData/pushTransactionId")
                );
                assert_eq!(str_at(&pair[1], "/outcome/result"), "FAILURE");
            }
            assert_eq!(str_at(&events[17], "/outcome/result"), "SUCCESS");
            assert_eq!(str_at(&events[18], "/outcome/result"), "SUCCESS");
            let span = parse_published(str_at(&events[18], "/published")) - TO;
            assert!(span < 600_000, "{span}");
        }
    }

    #[test]
    fn privilege_grant_scenario() {
        for seed in 0..5 {
            let events = staged(Scenario::AdminPrivilegeGrant, seed);
            assert_eq!(
                types(&events),
                [
                    "user.account.privilege.grant",
                    "user.session.start",
                    "user.session.access_admin_app",
                    "system.api_token.create"
                ]
            );
            let ip = attacker_ip(&events);
            assert!(events.iter().all(|e| str_at(e, "/client/ipAddress") == ip));
            let grant = &events[0];
            assert_eq!(str_at(grant, "/debugContext/debugData/privilegeGranted"), "Super administrator");
            assert_eq!(str_at(grant, "/target/0/type"), "User");
            let grantee = str_at(grant, "/target/0/id");
            assert_ne!(str_at(grant, "/actor/id"), grantee);
            assert!(events[1..].iter().all(|e| str_at(e, "/actor/id") == grantee));
            assert_eq!(str_at(&events[3], "/target/0/type"), "Token");
            assert_eq!(str_at(&events[3], "/target/0/detailEntry/networkConnection"), "ANYWHERE");
        }
    }

    #[test]
    fn proxy_session_scenario() {
        for seed in 0..5 {
            let events = staged(Scenario::ProxySession, seed);
            assert_eq!(types(&events), ["policy.evaluate_sign_on", "user.session.start", "user.authentication.sso"]);
            let ip = attacker_ip(&events);
            let actor = str_at(&events[0], "/actor/id");
            let category = serde_json::json!([{"type": "VPN", "operator": "EXAMPLE_VPN", "isAnonymous": true}]);
            for event in &events {
                assert_eq!(str_at(event, "/client/ipAddress"), ip);
                assert_eq!(str_at(event, "/actor/id"), actor);
                assert_eq!(event["securityContext"]["isProxy"], Value::Bool(true));
                assert_eq!(event["securityContext"]["ipDetails"]["ipServiceCategories"], category);
                assert_eq!(event["request"]["ipChain"][0]["ipDetails"]["ipServiceCategories"], category);
                assert_eq!(
                    str_at(event, "/debugContext/debugData/tunnels"),
                    r#"[{"anonymous":true,"operator":"EXAMPLE_VPN","type":"VPN"}]"#
                );
            }
            let start = &events[1];
            assert_eq!(str_at(start, "/outcome/result"), "SUCCESS");
            assert_eq!(
                str_at(start, "/debugContext/debugData/behaviors"),
                "{New Geo-Location=POSITIVE, New Device=POSITIVE, New IP=POSITIVE, New State=POSITIVE, \
                 New Country=POSITIVE, Velocity=POSITIVE, New City=POSITIVE}"
            );
            assert_eq!(
                str_at(start, "/debugContext/debugData/risk"),
                "{reasons=Anomalous Location, Anomalous Device, level=HIGH}"
            );
        }
    }

    #[test]
    fn every_ip_is_a_documentation_address() {
        let mut generator = Generator::new(99, "acme.example.com");
        let mut events = generator.background(FROM, TO, 3_000);
        for scenario in ALL_SCENARIOS {
            events.extend(generator.scenario(scenario, TO));
        }
        let mut v6 = 0;
        for event in &events {
            check_ips(event, "");
            v6 += usize::from(str_at(event, "/request/ipChain/0/version") == "V6");
        }
        assert!(v6 > 0, "no IPv6 user");
        assert!(std::panic::catch_unwind(|| check_ips(&serde_json::json!({"ip": "8.8.8.8"}), "")).is_err());
    }

    /// Release-mode timing: `cargo test --release -- --ignored --nocapture`.
    ///
    /// Most of the time is the allocator and the kernel materialising the `Value` trees (about 18 KB per
    /// event with serde_json's BTreeMap objects, 1.75 GB for 100 000), not the generator: cloning 100 000
    /// ready-made events takes as long. Hence the loose bound, which still catches an accidental slowdown.
    #[test]
    #[ignore = "timing; run in release"]
    fn hundred_thousand_events_are_fast() {
        let start = std::time::Instant::now();
        let events = Generator::new(1, "acme.example.com").background(FROM, TO, 100_000);
        let elapsed = start.elapsed();
        println!("100000 events in {elapsed:?}");
        assert_eq!(events.len(), 100_000);
        assert!(elapsed.as_secs_f64() < 4.0, "{elapsed:?}");
    }
}
