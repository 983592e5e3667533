@echo off
rem address forms and what they resolve to on the host of the test config
netsh ipsec static add filter filterlist=me-any srcaddr=me dstaddr=any protocol=tcp dstport=80 mirrored=no
netsh ipsec static add filter filterlist=me-dns srcaddr=me dstaddr=DNS protocol=udp dstport=53 mirrored=no
netsh ipsec static add filter filterlist=wins-any srcaddr=WINS dstaddr=any mirrored=no
netsh ipsec static add filter filterlist=dhcp-me srcaddr=dhcp dstaddr=me mirrored=no
netsh ipsec static add filter filterlist=gateway-me srcaddr=Gateway dstaddr=me mirrored=no
netsh ipsec static add filter filterlist=dotted srcaddr=10.1.0.0 srcmask=255.255.255.0 dstaddr=me mirrored=no
netsh ipsec static add filter filterlist=hostbits srcaddr=10.1.0.77 srcmask=24 dstaddr=me mirrored=no
netsh ipsec static add filter filterlist=cidr srcaddr=192.0.2.0/25 dstaddr=me mirrored=no
netsh ipsec static add filter filterlist=range srcaddr=192.0.2.10-192.0.2.20 dstaddr=me mirrored=no
netsh ipsec static add filter filterlist=name srcaddr=me dstaddr=WSUS.example.net protocol=tcp dstport=80 mirrored=no
netsh ipsec static add filter filterlist=unknown-name srcaddr=me dstaddr=unknown.example.net mirrored=no
netsh ipsec static add filter filterlist=v6 srcaddr=2001:db8:: srcmask=32 dstaddr=me mirrored=no
netsh ipsec static add filter filterlist=me-mask srcaddr=me srcmask=24 dstaddr=any mirrored=no
netsh ipsec static add filter filterlist=any-mask srcaddr=any srcmask=32 dstaddr=me mirrored=no
netsh ipsec static add filter filterlist=any-any srcaddr=any dstaddr=any mirrored=no
rem each of these is refused
netsh ipsec static add filter filterlist=bad srcaddr=10.0.0.1 dstaddr=2001:db8::1
netsh ipsec static add filter filterlist=bad srcaddr=10.0.0.1 srcmask=33 dstaddr=me
netsh ipsec static add filter filterlist=bad srcaddr=10.0.0.0 srcmask=255.0.255.0 dstaddr=me
netsh ipsec static add filter filterlist=bad srcaddr=10.1.0.300 dstaddr=me
netsh ipsec static add filter filterlist=bad srcaddr=192.0.2.20-192.0.2.10 dstaddr=me
netsh ipsec static add filter filterlist=bad srcaddr=DNS dstaddr=WINS
