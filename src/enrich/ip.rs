//! Addresses as logged: parsing (strictly: a masked or mistyped value is
//! not an address) and the IANA special-purpose classes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The address in a `remote_ip` value, or `None` when it is not one
/// (`1192.0.2.3`, `xx.xx.41.39`, `-`, an empty string). Brackets and a zone
/// (`[fe80::1%eth0]`) are not in S3's logs and are not accepted.
pub fn parse(text: &str) -> Option<IpAddr> {
    text.parse().ok()
}

/// The class of an address: `private`, `loopback`, `link_local`, `shared`
/// (carrier-grade NAT, 100.64.0.0/10), `documentation`, `multicast`,
/// `reserved`, `public`, or `invalid` for a value that is not an address.
pub fn class(text: &str) -> &'static str {
    match parse(text) {
        None => "invalid",
        Some(IpAddr::V4(v4)) => class_v4(v4),
        Some(IpAddr::V6(v6)) => class_v6(v6),
    }
}

fn class_v4(ip: Ipv4Addr) -> &'static str {
    let [a, b, c, _] = ip.octets();
    if a == 127 {
        "loopback"
    } else if a == 10 || (a == 172 && (16..32).contains(&b)) || (a == 192 && b == 168) {
        "private"
    } else if a == 169 && b == 254 {
        "link_local"
    } else if a == 100 && (64..128).contains(&b) {
        "shared"
    } else if (a, b, c) == (192, 0, 2) || (a, b, c) == (198, 51, 100) || (a, b, c) == (203, 0, 113)
    {
        "documentation"
    } else if (224..240).contains(&a) {
        "multicast"
    } else if a == 0 || a >= 240 || (a, b, c) == (192, 0, 0) || (a == 198 && (b == 18 || b == 19)) {
        // This network, 240/4 and broadcast, IETF protocol assignments,
        // benchmarking.
        "reserved"
    } else {
        "public"
    }
}

fn class_v6(ip: Ipv6Addr) -> &'static str {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return class_v4(v4);
    }
    let s = ip.segments();
    if ip.is_loopback() {
        "loopback"
    } else if s[0] & 0xfe00 == 0xfc00 {
        // Unique local addresses, fc00::/7.
        "private"
    } else if s[0] & 0xffc0 == 0xfe80 {
        "link_local"
    } else if s[0] == 0x2001 && s[1] == 0x0db8 {
        "documentation"
    } else if s[0] & 0xff00 == 0xff00 {
        "multicast"
    } else if s[0] & 0xe000 == 0x2000 {
        // Global unicast, 2000::/3.
        "public"
    } else {
        "reserved"
    }
}

/// An address as a 128-bit number (IPv4 as its IPv4-mapped IPv6 form), so
/// one table holds both families.
pub fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => u128::from(v4.to_ipv6_mapped()),
            None => u128::from(v6),
        },
    }
}

/// A CIDR prefix (`52.95.0.0/16`, `2600:1f00::/24`) as the first address
/// (in [`to_u128`] form) and the prefix length over 128 bits.
pub fn parse_cidr(text: &str) -> Option<(u128, u8)> {
    let (addr, len) = text.trim().split_once('/')?;
    let ip = parse(addr)?;
    let len: u8 = len.parse().ok()?;
    let bits = match ip {
        IpAddr::V4(_) if len <= 32 => len + 96,
        IpAddr::V6(_) if len <= 128 => len,
        _ => return None,
    };
    Some((to_u128(ip) & mask(bits), bits))
}

/// The network mask of a prefix length over 128 bits.
pub fn mask(bits: u8) -> u128 {
    match bits {
        0 => 0,
        b => u128::MAX << (128 - u32::from(b.min(128))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        for (ip, want) in [
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.32.0.1", "public"),
            ("192.168.1.1", "private"),
            ("127.0.0.1", "loopback"),
            ("169.254.169.254", "link_local"),
            ("100.64.0.1", "shared"),
            ("100.128.0.1", "public"),
            ("192.0.2.3", "documentation"),
            ("198.51.100.7", "documentation"),
            ("203.0.113.42", "documentation"),
            ("224.0.0.251", "multicast"),
            ("0.1.2.3", "reserved"),
            ("255.255.255.255", "reserved"),
            ("198.18.0.1", "reserved"),
            ("54.239.6.87", "public"),
            ("::1", "loopback"),
            ("fd00::1", "private"),
            ("fe80::1", "link_local"),
            ("2001:db8::8a2e:370:7334", "documentation"),
            ("ff02::1", "multicast"),
            ("::", "reserved"),
            ("::ffff:10.0.0.1", "private"),
            ("2600:1f18::1", "public"),
            ("1192.0.2.3", "invalid"),
            ("xx.xx.41.39", "invalid"),
            ("-", "invalid"),
            ("", "invalid"),
            ("192.0.2.3 ", "invalid"),
        ] {
            assert_eq!(class(ip), want, "{ip}");
        }
    }

    #[test]
    fn prefixes() {
        let (net, bits) = parse_cidr("52.95.0.0/16").expect("v4");
        assert_eq!(bits, 112);
        let ip = to_u128(parse("52.95.7.1").expect("ip"));
        assert_eq!(ip & mask(bits), net);
        assert_eq!(parse_cidr("2600:1f00::/24").map(|p| p.1), Some(24));
        assert_eq!(parse_cidr("10.0.0.0/33"), None);
        assert_eq!(parse_cidr("nonsense"), None);
        assert_eq!(mask(0), 0);
        assert_eq!(mask(128), u128::MAX);
    }
}
