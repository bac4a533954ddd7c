//! MITRE ATT&CK (Enterprise) ids and names for rule tags: `attack.credential-access` →
//! `TA0006 Credential Access`, `attack.t1621` → `T1621 Multi-Factor Authentication Request
//! Generation`. The technique table holds the techniques an identity provider's log can show
//! evidence of, plus the other common ones; a tag outside it is a lint error, so a typo such as
//! `attack.t1612` for `t1621` does not slip through.

/// (id, name, tag form).
pub(crate) const TACTICS: &[(&str, &str, &str)] = &[
    ("TA0043", "Reconnaissance", "reconnaissance"),
    ("TA0042", "Resource Development", "resource-development"),
    ("TA0001", "Initial Access", "initial-access"),
    ("TA0002", "Execution", "execution"),
    ("TA0003", "Persistence", "persistence"),
    ("TA0004", "Privilege Escalation", "privilege-escalation"),
    ("TA0005", "Defense Evasion", "defense-evasion"),
    ("TA0006", "Credential Access", "credential-access"),
    ("TA0007", "Discovery", "discovery"),
    ("TA0008", "Lateral Movement", "lateral-movement"),
    ("TA0009", "Collection", "collection"),
    ("TA0011", "Command and Control", "command-and-control"),
    ("TA0010", "Exfiltration", "exfiltration"),
    ("TA0040", "Impact", "impact"),
];

/// (id, name), sorted by id.
pub(crate) const TECHNIQUES: &[(&str, &str)] = &[
    ("T1003", "OS Credential Dumping"),
    ("T1005", "Data from Local System"),
    ("T1010", "Application Window Discovery"),
    ("T1016", "System Network Configuration Discovery"),
    ("T1018", "Remote System Discovery"),
    ("T1020", "Automated Exfiltration"),
    ("T1021", "Remote Services"),
    ("T1021.001", "Remote Desktop Protocol"),
    ("T1021.004", "SSH"),
    ("T1021.007", "Cloud Services"),
    ("T1027", "Obfuscated Files or Information"),
    ("T1029", "Scheduled Transfer"),
    ("T1030", "Data Transfer Size Limits"),
    ("T1033", "System Owner/User Discovery"),
    ("T1036", "Masquerading"),
    ("T1040", "Network Sniffing"),
    ("T1041", "Exfiltration Over C2 Channel"),
    ("T1046", "Network Service Discovery"),
    ("T1047", "Windows Management Instrumentation"),
    ("T1048", "Exfiltration Over Alternative Protocol"),
    ("T1049", "System Network Connections Discovery"),
    ("T1053", "Scheduled Task/Job"),
    ("T1055", "Process Injection"),
    ("T1056", "Input Capture"),
    ("T1056.003", "Web Portal Capture"),
    ("T1057", "Process Discovery"),
    ("T1059", "Command and Scripting Interpreter"),
    ("T1059.001", "PowerShell"),
    ("T1059.004", "Unix Shell"),
    ("T1059.009", "Cloud API"),
    ("T1068", "Exploitation for Privilege Escalation"),
    ("T1069", "Permission Groups Discovery"),
    ("T1069.001", "Local Groups"),
    ("T1069.002", "Domain Groups"),
    ("T1069.003", "Cloud Groups"),
    ("T1070", "Indicator Removal"),
    ("T1070.008", "Clear Mailbox Data"),
    ("T1071", "Application Layer Protocol"),
    ("T1071.001", "Web Protocols"),
    ("T1071.002", "File Transfer Protocols"),
    ("T1071.003", "Mail Protocols"),
    ("T1071.004", "DNS"),
    ("T1072", "Software Deployment Tools"),
    ("T1074", "Data Staged"),
    ("T1078", "Valid Accounts"),
    ("T1078.001", "Default Accounts"),
    ("T1078.002", "Domain Accounts"),
    ("T1078.003", "Local Accounts"),
    ("T1078.004", "Cloud Accounts"),
    ("T1080", "Taint Shared Content"),
    ("T1082", "System Information Discovery"),
    ("T1083", "File and Directory Discovery"),
    ("T1087", "Account Discovery"),
    ("T1087.001", "Local Account"),
    ("T1087.002", "Domain Account"),
    ("T1087.003", "Email Account"),
    ("T1087.004", "Cloud Account"),
    ("T1090", "Proxy"),
    ("T1090.001", "Internal Proxy"),
    ("T1090.002", "External Proxy"),
    ("T1090.003", "Multi-hop Proxy"),
    ("T1090.004", "Domain Fronting"),
    ("T1098", "Account Manipulation"),
    ("T1098.001", "Additional Cloud Credentials"),
    ("T1098.002", "Additional Email Delegate Permissions"),
    ("T1098.003", "Additional Cloud Roles"),
    ("T1098.004", "SSH Authorized Keys"),
    ("T1098.005", "Device Registration"),
    ("T1098.006", "Additional Container Cluster Roles"),
    ("T1102", "Web Service"),
    ("T1105", "Ingress Tool Transfer"),
    ("T1106", "Native API"),
    ("T1110", "Brute Force"),
    ("T1110.001", "Password Guessing"),
    ("T1110.002", "Password Cracking"),
    ("T1110.003", "Password Spraying"),
    ("T1110.004", "Credential Stuffing"),
    ("T1111", "Multi-Factor Authentication Interception"),
    ("T1112", "Modify Registry"),
    ("T1114", "Email Collection"),
    ("T1114.001", "Local Email Collection"),
    ("T1114.002", "Remote Email Collection"),
    ("T1114.003", "Email Forwarding Rule"),
    ("T1119", "Automated Collection"),
    ("T1133", "External Remote Services"),
    ("T1134", "Access Token Manipulation"),
    ("T1135", "Network Share Discovery"),
    ("T1136", "Create Account"),
    ("T1136.001", "Local Account"),
    ("T1136.002", "Domain Account"),
    ("T1136.003", "Cloud Account"),
    ("T1137", "Office Application Startup"),
    ("T1140", "Deobfuscate/Decode Files or Information"),
    ("T1176", "Browser Extensions"),
    ("T1187", "Forced Authentication"),
    ("T1190", "Exploit Public-Facing Application"),
    ("T1195", "Supply Chain Compromise"),
    ("T1199", "Trusted Relationship"),
    ("T1200", "Hardware Additions"),
    ("T1201", "Password Policy Discovery"),
    ("T1203", "Exploitation for Client Execution"),
    ("T1204", "User Execution"),
    ("T1204.001", "Malicious Link"),
    ("T1205", "Traffic Signaling"),
    ("T1207", "Rogue Domain Controller"),
    ("T1210", "Exploitation of Remote Services"),
    ("T1211", "Exploitation for Defense Evasion"),
    ("T1212", "Exploitation for Credential Access"),
    ("T1213", "Data from Information Repositories"),
    ("T1213.002", "Sharepoint"),
    ("T1213.003", "Code Repositories"),
    ("T1217", "Browser Information Discovery"),
    ("T1219", "Remote Access Tools"),
    ("T1484", "Domain or Tenant Policy Modification"),
    ("T1484.002", "Trust Modification"),
    ("T1485", "Data Destruction"),
    ("T1486", "Data Encrypted for Impact"),
    ("T1489", "Service Stop"),
    ("T1490", "Inhibit System Recovery"),
    ("T1491", "Defacement"),
    ("T1496", "Resource Hijacking"),
    ("T1498", "Network Denial of Service"),
    ("T1499", "Endpoint Denial of Service"),
    ("T1505", "Server Software Component"),
    ("T1518", "Software Discovery"),
    ("T1518.001", "Security Software Discovery"),
    ("T1525", "Implant Internal Image"),
    ("T1526", "Cloud Service Discovery"),
    ("T1528", "Steal Application Access Token"),
    ("T1529", "System Shutdown/Reboot"),
    ("T1530", "Data from Cloud Storage"),
    ("T1531", "Account Access Removal"),
    ("T1534", "Internal Spearphishing"),
    ("T1535", "Unused/Unsupported Cloud Regions"),
    ("T1537", "Transfer Data to Cloud Account"),
    ("T1538", "Cloud Service Dashboard"),
    ("T1539", "Steal Web Session Cookie"),
    ("T1543", "Create or Modify System Process"),
    ("T1546", "Event Triggered Execution"),
    ("T1547", "Boot or Logon Autostart Execution"),
    ("T1548", "Abuse Elevation Control Mechanism"),
    ("T1548.005", "Temporary Elevated Cloud Access"),
    ("T1550", "Use Alternate Authentication Material"),
    ("T1550.001", "Application Access Token"),
    ("T1550.002", "Pass the Hash"),
    ("T1550.003", "Pass the Ticket"),
    ("T1550.004", "Web Session Cookie"),
    ("T1552", "Unsecured Credentials"),
    ("T1552.001", "Credentials In Files"),
    ("T1552.004", "Private Keys"),
    ("T1552.005", "Cloud Instance Metadata API"),
    ("T1553", "Subvert Trust Controls"),
    ("T1554", "Compromise Host Software Binary"),
    ("T1555", "Credentials from Password Stores"),
    ("T1555.003", "Credentials from Web Browsers"),
    ("T1555.006", "Cloud Secrets Management Stores"),
    ("T1556", "Modify Authentication Process"),
    ("T1556.001", "Domain Controller Authentication"),
    ("T1556.002", "Password Filter DLL"),
    ("T1556.003", "Pluggable Authentication Modules"),
    ("T1556.004", "Network Device Authentication"),
    ("T1556.005", "Reversible Encryption"),
    ("T1556.006", "Multi-Factor Authentication"),
    ("T1556.007", "Hybrid Identity"),
    ("T1556.009", "Conditional Access Policies"),
    ("T1557", "Adversary-in-the-Middle"),
    ("T1558", "Steal or Forge Kerberos Tickets"),
    ("T1560", "Archive Collected Data"),
    ("T1562", "Impair Defenses"),
    ("T1562.001", "Disable or Modify Tools"),
    ("T1562.002", "Disable Windows Event Logging"),
    ("T1562.004", "Disable or Modify System Firewall"),
    ("T1562.007", "Disable or Modify Cloud Firewall"),
    ("T1562.008", "Disable or Modify Cloud Logs"),
    ("T1563", "Remote Service Session Hijacking"),
    ("T1564", "Hide Artifacts"),
    ("T1564.008", "Email Hiding Rules"),
    ("T1565", "Data Manipulation"),
    ("T1566", "Phishing"),
    ("T1566.001", "Spearphishing Attachment"),
    ("T1566.002", "Spearphishing Link"),
    ("T1566.003", "Spearphishing via Service"),
    ("T1566.004", "Spearphishing Voice"),
    ("T1567", "Exfiltration Over Web Service"),
    ("T1567.002", "Exfiltration to Cloud Storage"),
    ("T1568", "Dynamic Resolution"),
    ("T1569", "System Services"),
    ("T1570", "Lateral Tool Transfer"),
    ("T1572", "Protocol Tunneling"),
    ("T1573", "Encrypted Channel"),
    ("T1578", "Modify Cloud Compute Infrastructure"),
    ("T1580", "Cloud Infrastructure Discovery"),
    ("T1583", "Acquire Infrastructure"),
    ("T1583.001", "Domains"),
    ("T1583.003", "Virtual Private Server"),
    ("T1583.006", "Web Services"),
    ("T1584", "Compromise Infrastructure"),
    ("T1585", "Establish Accounts"),
    ("T1585.001", "Social Media Accounts"),
    ("T1585.002", "Email Accounts"),
    ("T1585.003", "Cloud Accounts"),
    ("T1586", "Compromise Accounts"),
    ("T1586.001", "Social Media Accounts"),
    ("T1586.002", "Email Accounts"),
    ("T1586.003", "Cloud Accounts"),
    ("T1587", "Develop Capabilities"),
    ("T1588", "Obtain Capabilities"),
    ("T1589", "Gather Victim Identity Information"),
    ("T1589.001", "Credentials"),
    ("T1589.002", "Email Addresses"),
    ("T1589.003", "Employee Names"),
    ("T1590", "Gather Victim Network Information"),
    ("T1591", "Gather Victim Org Information"),
    ("T1592", "Gather Victim Host Information"),
    ("T1593", "Search Open Websites/Domains"),
    ("T1594", "Search Victim-Owned Websites"),
    ("T1595", "Active Scanning"),
    ("T1595.001", "Scanning IP Blocks"),
    ("T1595.002", "Vulnerability Scanning"),
    ("T1595.003", "Wordlist Scanning"),
    ("T1596", "Search Open Technical Databases"),
    ("T1597", "Search Closed Sources"),
    ("T1598", "Phishing for Information"),
    ("T1606", "Forge Web Credentials"),
    ("T1606.001", "Web Cookies"),
    ("T1606.002", "SAML Tokens"),
    ("T1609", "Container Administration Command"),
    ("T1610", "Deploy Container"),
    ("T1611", "Escape to Host"),
    ("T1612", "Build Image on Host"),
    ("T1613", "Container and Resource Discovery"),
    ("T1614", "System Location Discovery"),
    ("T1619", "Cloud Storage Object Discovery"),
    ("T1621", "Multi-Factor Authentication Request Generation"),
    ("T1622", "Debugger Evasion"),
    ("T1647", "Plist File Modification"),
    ("T1648", "Serverless Execution"),
    ("T1649", "Steal or Forge Authentication Certificates"),
    ("T1651", "Cloud Administration Command"),
    ("T1652", "Device Driver Discovery"),
    ("T1653", "Power Settings"),
    ("T1654", "Log Enumeration"),
    ("T1656", "Impersonation"),
    ("T1657", "Financial Theft"),
    ("T1666", "Modify Cloud Resource Hierarchy"),
    ("T1671", "Cloud Application Integration"),
];

/// What an `attack.*` tag names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tag {
    Tactic {
        id: &'static str,
        name: &'static str,
    },
    Technique {
        id: &'static str,
        name: &'static str,
    },
    /// Groups (`g0016`), software (`s0001`) and campaigns (`c0024`): accepted, not mapped.
    Other,
}

/// Reads the part after `attack.`; `Err` with a message for an unknown tactic or technique.
pub(crate) fn lookup(tag: &str) -> Result<Tag, String> {
    let lower = tag.to_ascii_lowercase();
    let dashed = lower.replace('_', "-");
    if let Some((id, name, _)) = TACTICS.iter().find(|(_, _, form)| *form == dashed) {
        return Ok(Tag::Tactic { id, name });
    }
    let bytes = lower.as_bytes();
    if bytes.first() == Some(&b't') && bytes.get(1).is_some_and(u8::is_ascii_digit) {
        let id = lower.to_ascii_uppercase();
        return match TECHNIQUES.binary_search_by(|(t, _)| (*t).cmp(id.as_str())) {
            Ok(i) => Ok(Tag::Technique { id: TECHNIQUES[i].0, name: TECHNIQUES[i].1 }),
            Err(_) => Err(format!(
                "unknown ATT&CK technique 'attack.{tag}'; check the id (for example attack.t1621 is MFA request generation)"
            )),
        };
    }
    if matches!(bytes.first(), Some(b'g' | b's' | b'c')) && bytes.len() > 1 && bytes[1..].iter().all(u8::is_ascii_digit)
    {
        return Ok(Tag::Other);
    }
    let forms: Vec<&str> = TACTICS.iter().map(|(_, _, f)| *f).collect();
    let hint = super::modifiers::suggest(&dashed, &forms)
        .map(|s| format!("; did you mean 'attack.{s}'?"))
        .unwrap_or_else(|| format!("; tactics are {}", forms.join(", ")));
    Err(format!("unknown ATT&CK tag 'attack.{tag}'{hint}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tactics_and_techniques() {
        assert_eq!(lookup("credential-access"), Ok(Tag::Tactic { id: "TA0006", name: "Credential Access" }));
        assert_eq!(lookup("Credential_Access"), Ok(Tag::Tactic { id: "TA0006", name: "Credential Access" }));
        assert_eq!(
            lookup("t1621"),
            Ok(Tag::Technique { id: "T1621", name: "Multi-Factor Authentication Request Generation" })
        );
        assert_eq!(lookup("t1110.003"), Ok(Tag::Technique { id: "T1110.003", name: "Password Spraying" }));
        assert_eq!(lookup("g0016"), Ok(Tag::Other));
        assert!(lookup("t9999").unwrap_err().contains("unknown ATT&CK technique"));
        assert!(lookup("credential-acess").unwrap_err().contains("did you mean 'attack.credential-access'"));
    }

    #[test]
    fn techniques_are_sorted() {
        assert!(TECHNIQUES.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
