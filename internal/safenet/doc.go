// Package safenet is hookkit's guard against server-side request forgery (SSRF).
//
// A webhook sender connects to URLs that its users type in. Without a guard, a URL such as
// http://169.254.169.254/latest/meta-data/ or http://localhost:6379/ turns the sender into
// a proxy into the sender's own network. safenet refuses such destinations at dial time,
// in net.Dialer.Control, on the address actually being connected to after DNS
// resolution: a hostname that resolves to a private address is refused, and DNS
// rebinding (a public answer at check time, a private one at connect time) cannot get
// around it because there is no separate check time.
//
// Refused by default (Policy{}):
//
//   - loopback 127.0.0.0/8, ::1; "this network" 0.0.0.0/8; unspecified 0.0.0.0, ::
//   - private-use 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16; shared (CGNAT) 100.64.0.0/10
//   - link-local 169.254.0.0/16 (cloud metadata 169.254.169.254 included), fe80::/10
//   - the cloud metadata and host-agent addresses listed below, the public 168.63.129.16
//     (Azure wire server) included
//   - IETF protocol assignments 192.0.0.0/24, documentation 192.0.2.0/24,
//     198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32, benchmarking 198.18.0.0/15,
//     2001:2::/48, deprecated 6to4 relay 192.88.99.0/24, reserved 240.0.0.0/4
//   - multicast 224.0.0.0/4, ff00::/8; limited broadcast 255.255.255.255
//   - unique-local fc00::/7, deprecated site-local fec0::/10, discard-only 100::/64,
//     local-use NAT64 64:ff9b:1::/48
//   - IPv6 forms that carry an IPv4 address: IPv4-mapped ::ffff:a.b.c.d, IPv4-compatible
//     ::a.b.c.d, NAT64 64:ff9b::a.b.c.d, 6to4 2002:AABB:CCDD::/48 and Teredo 2001::/32
//     are judged by the IPv4 address they carry (so 64:ff9b::8.8.8.8 is allowed and
//     ::ffff:10.0.0.1 is not)
//   - any network other than TCP
//
// Policy.AllowPrivate lifts the refusal of every non-public unicast class above (loopback,
// private-use, CGNAT, link-local, unique-local, documentation, benchmarking, ...), for
// senders that deliver inside a private network. It does not lift the refusal of
// unspecified, multicast and broadcast addresses, nor of the well-known cloud metadata and
// host-agent addresses: 169.254.169.254, 169.254.170.2, 169.254.170.23, fd00:ec2::254,
// fd00:ec2::23 (AWS), fd20:ce::254 (GCP), 100.100.100.200 (Alibaba), 169.254.0.23
// (Tencent), 192.0.0.192 (Oracle) and the Azure wire server 168.63.129.16, which is
// refused by default although it is a public address. Those are reachable only through
// Policy.Allow, which admits every address inside its prefixes whatever its class. A
// RefusedError's Private field says whether AllowPrivate would have admitted the address.
//
// NewTransport and NewClient build an HTTP transport and client with the guard installed;
// the client never follows redirects. Proxies are not used: a proxy would make the dial go
// to the proxy's address and hide the destination from the guard.
package safenet
