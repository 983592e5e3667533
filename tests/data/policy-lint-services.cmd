@echo off
rem block-all with an exemption for DNS to one of the two DNS servers only, nothing for WINS
netsh ipsec static add policy name=Services assign=yes
netsh ipsec static add filteraction name=Permit action=permit
netsh ipsec static add filteraction name=Block action=block
netsh ipsec static add filter filterlist=All srcaddr=any dstaddr=any
netsh ipsec static add filter filterlist=DNS1 srcaddr=me dstaddr=10.1.0.2 protocol=udp dstport=53
netsh ipsec static add rule name="Block all" policy=Services filterlist=All filteraction=Block
netsh ipsec static add rule name="DNS one" policy=Services filterlist=DNS1 filteraction=Permit
