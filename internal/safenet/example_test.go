package safenet_test

import (
	"fmt"
	"net/netip"

	"github.com/hookkit/hookkit/internal/safenet"
)

func ExamplePolicy_Check() {
	for _, a := range []string{"93.184.216.34", "10.0.0.1", "::ffff:127.0.0.1", "64:ff9b::192.168.0.1", "169.254.169.254"} {
		fmt.Println(safenet.Policy{}.Check(netip.MustParseAddr(a)))
	}
	fmt.Println(safenet.Policy{AllowPrivate: true}.Check(netip.MustParseAddr("10.0.0.1")))
	// Output:
	// <nil>
	// hookkit/safenet: refused destination 10.0.0.1: private-use
	// hookkit/safenet: refused destination ::ffff:127.0.0.1: IPv4-mapped loopback
	// hookkit/safenet: refused destination 64:ff9b::c0a8:1: NAT64 private-use
	// hookkit/safenet: refused destination 169.254.169.254: cloud metadata
	// <nil>
}
