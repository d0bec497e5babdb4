//! Who is on the other end of a request: the client kind parsed from `User-Agent`, and the
//! client address, honouring `X-Forwarded-For` only from trusted proxies.

use std::{net::IpAddr, str::FromStr};

use ipnet::IpNet;

/// The registry client family a `User-Agent` belongs to, as stored in `pull_events`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKind {
    /// The docker CLI / dockerd (`docker/28.2.2 go/go1.24 ...`).
    Docker,
    /// containerd, and so kubelet and nerdctl on containerd (`containerd/v1.7.24`).
    Containerd,
    /// The containers/image family: podman (`libpod/4.3.1`), skopeo (`skopeo/1.9.3`),
    /// buildah, CRI-O, and the library's own default (`containers/5.x (github.com/...)`).
    Podman,
    /// Helm (`Helm/3.14.0`, `Helm/4.x`).
    Helm,
    /// ORAS: the CLI and oras-go (`oras/1.2.0`, `oras-go`), and oras-py.
    Oras,
    /// Anything else.
    Other,
}

impl ClientKind {
    /// The stored spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Docker => "docker",
            Self::Containerd => "containerd",
            Self::Podman => "podman",
            Self::Helm => "helm",
            Self::Oras => "oras",
            Self::Other => "other",
        }
    }

    /// Classifies a `User-Agent` by its first product token (case-insensitive); docker's
    /// daemon also names the CLI in `UpstreamClient(Docker-Client/...)`. Allocates nothing.
    pub fn from_user_agent(user_agent: Option<&str>) -> Self {
        let Some(ua) = user_agent else { return Self::Other };
        let ua = ua.trim();
        let product = ua.split(['/', ' ', '(']).next().unwrap_or("");
        let is = |names: &[&str]| names.iter().any(|n| product.eq_ignore_ascii_case(n));
        if is(&["docker", "docker-client"]) {
            Self::Docker
        } else if is(&["containerd", "ctr", "nerdctl"]) {
            Self::Containerd
        } else if is(&["libpod", "podman", "skopeo", "buildah", "containers", "cri-o"]) {
            Self::Podman
        } else if is(&["helm"]) {
            Self::Helm
        } else if is(&["oras", "oras-go", "oras-py"]) {
            Self::Oras
        } else if contains_ignore_ascii_case(ua, "upstreamclient(docker-client/") {
            Self::Docker
        } else {
            Self::Other
        }
    }
}

/// Whether `haystack` contains `needle` (ASCII lower case), ignoring ASCII case.
fn contains_ignore_ascii_case(haystack: &str, needle: &str) -> bool {
    haystack.as_bytes().windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// A network in CIDR notation (`10.0.0.0/8`, `fd00::/8`), or one address; parsed and
/// matched by `ipnet`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr(IpNet);

impl Cidr {
    /// Whether `addr` is inside this network (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, addr: IpAddr) -> bool {
        self.0.contains(&canonical(addr))
    }
}

fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.contains('/') {
            s.parse::<IpNet>()
                .map(Self)
                .map_err(|_| format!("`{s}` is not an IP address or CIDR network (prefix 0 to 32, or 0 to 128 for IPv6)"))
        } else {
            let addr: IpAddr =
                s.parse().map_err(|_| format!("`{s}` is not an IP address or CIDR network"))?;
            Ok(Self(IpNet::from(canonical(addr))))
        }
    }
}

/// The proxies whose `X-Forwarded-For` Wharf believes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(pub Vec<Cidr>);

impl FromStr for TrustedProxies {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split(',')
            .filter(|part| !part.trim().is_empty())
            .map(Cidr::from_str)
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }
}

impl TrustedProxies {
    fn trusts(&self, addr: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(addr))
    }

    /// The client's address: the peer, unless the peer is a trusted proxy; then the
    /// right-most `X-Forwarded-For` entry that is not a trusted proxy (each proxy appends the
    /// address it received from, so entries left of an untrusted one may be forged). All
    /// entries trusted: the left-most. An unparsable entry stops the walk at the last good
    /// address.
    pub fn client_addr<'a>(
        &self,
        peer: Option<IpAddr>,
        forwarded_for: impl Iterator<Item = &'a str>,
    ) -> Option<IpAddr> {
        let peer = canonical(peer?);
        if !self.trusts(peer) {
            return Some(peer);
        }
        let hops: Vec<&str> = forwarded_for.flat_map(|v| v.split(',')).collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(addr) = parse_hop(hop) else { break };
            client = addr;
            if !self.trusts(addr) {
                break;
            }
        }
        Some(client)
    }
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:5`, `[::1]:5`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(addr) = hop.parse::<IpAddr>() {
        return Some(canonical(addr));
    }
    hop.parse::<std::net::SocketAddr>().ok().map(|s| canonical(s.ip()))
}

/// Longest `User-Agent` kept in usage events and the audit log.
const MAX_USER_AGENT: usize = 512;

/// A `User-Agent` as recorded: cut at [`MAX_USER_AGENT`] bytes, on a character boundary.
pub fn user_agent(value: &str) -> String {
    recorded_user_agent(value).to_owned()
}

/// The part of a `User-Agent` that is recorded (see [`user_agent`]), borrowed.
pub fn recorded_user_agent(value: &str) -> &str {
    let mut end = value.len().min(MAX_USER_AGENT);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_real_user_agents() {
        let cases = [
            (
                "docker/28.2.2 go/go1.24.3 git-commit/e6534b4 kernel/6.1.0-37-amd64 os/linux \
                 arch/amd64 UpstreamClient(Docker-Client/28.2.2 \\(linux\\))",
                ClientKind::Docker,
            ),
            (
                "docker/20.10.24+dfsg1 go/go1.19.8 git-commit/5d6db84 kernel/6.1.0 os/linux \
                 arch/amd64 UpstreamClient(Docker-Client/28.2.2 \\(linux\\))",
                ClientKind::Docker,
            ),
            ("containerd/v1.7.24", ClientKind::Containerd),
            ("containerd/1.6.20~ds1", ClientKind::Containerd),
            ("libpod/4.3.1", ClientKind::Podman),
            ("skopeo/1.9.3", ClientKind::Podman),
            ("containers/5.24.2 (github.com/containers/image)", ClientKind::Podman),
            ("Buildah/1.28.2", ClientKind::Podman),
            ("cri-o/1.28.1 go/go1.20.10 os/linux arch/amd64", ClientKind::Podman),
            ("Helm/3.14.0", ClientKind::Helm),
            ("Helm/4.2.3", ClientKind::Helm),
            ("oras/1.2.0", ClientKind::Oras),
            ("oras-go", ClientKind::Oras),
            ("oras-py", ClientKind::Oras),
            ("python-requests/2.32.3", ClientKind::Other),
            ("Go-http-client/1.1", ClientKind::Other),
            ("go-containerregistry/v0.20.2", ClientKind::Other),
            ("", ClientKind::Other),
            ("DOCKER/27.0", ClientKind::Docker),
            ("  Helm/3.14.0", ClientKind::Helm),
            ("Go-http-client/1.1 UpstreamClient(Docker-Client/28.2.2)", ClientKind::Docker),
            ("dockerd-ish/1.0", ClientKind::Other),
        ];
        for (ua, kind) in cases {
            assert_eq!(ClientKind::from_user_agent(Some(ua)), kind, "{ua}");
        }
        assert_eq!(ClientKind::from_user_agent(None), ClientKind::Other);
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidrs_parse_and_match() {
        let net: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(net.contains(ip("10.1.2.3")));
        assert!(!net.contains(ip("11.0.0.1")));
        assert!(net.contains(ip("::ffff:10.0.0.1")), "IPv4-mapped");
        let one: Cidr = "192.168.1.7".parse().unwrap();
        assert!(one.contains(ip("192.168.1.7")) && !one.contains(ip("192.168.1.8")));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        assert!("0.0.0.0/0".parse::<Cidr>().unwrap().contains(ip("8.8.8.8")));
        for bad in ["10.0.0.0/33", "nonsense", "10.0.0/8", "::/129"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
        assert_eq!("".parse::<TrustedProxies>().unwrap(), TrustedProxies::default());
        assert_eq!("10.0.0.0/8, 127.0.0.1".parse::<TrustedProxies>().unwrap().0.len(), 2);
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let none = TrustedProxies::default();
        let xff = ["203.0.113.9, 10.0.0.2"];
        assert_eq!(none.client_addr(Some(ip("10.0.0.1")), xff.into_iter()), Some(ip("10.0.0.1")));
        let proxies: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        assert_eq!(
            proxies.client_addr(Some(ip("10.0.0.1")), xff.into_iter()),
            Some(ip("203.0.113.9"))
        );
        // A forged left-most entry is not believed past an untrusted hop.
        assert_eq!(
            proxies.client_addr(Some(ip("10.0.0.1")), ["1.1.1.1, 198.51.100.4"].into_iter()),
            Some(ip("198.51.100.4"))
        );
        // Not from a proxy: the header is ignored.
        assert_eq!(
            proxies.client_addr(Some(ip("198.51.100.4")), ["1.1.1.1"].into_iter()),
            Some(ip("198.51.100.4"))
        );
        // Several headers, ports, all trusted.
        assert_eq!(
            proxies.client_addr(Some(ip("10.0.0.1")), ["10.0.0.7:1234", "10.0.0.3"].into_iter()),
            Some(ip("10.0.0.7"))
        );
        assert_eq!(
            proxies.client_addr(Some(ip("10.0.0.1")), ["garbage"].into_iter()),
            Some(ip("10.0.0.1"))
        );
        assert_eq!(proxies.client_addr(None, xff.into_iter()), None);
    }
}
