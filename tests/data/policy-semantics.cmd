@echo off
rem every command applied in order with netsh's semantics; refused commands change nothing
netsh ipsec static add policy name=P1
netsh ipsec static add policy name=P2 assign=yes
netsh ipsec static add policy name=p1
netsh ipsec static add filterlist name=L1
netsh ipsec static add filterlist name=L1
netsh ipsec static add filter filterlist=L2 srcaddr=any dstaddr=me protocol=tcp dstport=22
netsh ipsec static add filter filterlist=L2 srcaddr=any dstaddr=me protocol=udp dstport=22
netsh ipsec static add filter filterlist=L2 srcaddr=10.0.0.1 dstaddr=me
netsh ipsec static add filteraction name=A1 action=block
netsh ipsec static add filteraction name=A1 action=permit
netsh ipsec static add filteraction name=A2
netsh ipsec static add rule name=R1 policy=P1 filterlist=L2 filteraction=A1
netsh ipsec static add rule name=R1 policy=P1 filterlist=L2 filteraction=A1
netsh ipsec static add rule name=R2 policy=Missing filterlist=L9 filteraction=A9
netsh ipsec static add rule name=R3 policy=P1 filterlist=L1 filteraction=A2
netsh ipsec static set policy name=P1 assign=yes
netsh ipsec static set filterlist name=L2 newname=SSH
netsh ipsec static set filteraction name=A2 action=permit inpass=yes
netsh ipsec static set rule name=R3 policy=P1 newname=R3b activate=no filteraction=A1
netsh ipsec static set defaultrule policy=P1 activate=no kerberos=yes
netsh ipsec static set filteraction guid={11E6E97E-0031-49f5-AC7D-5F2FE99BABAF} inpass=y
netsh ipsec static delete filter filterlist=SSH srcaddr=any dstaddr=me protocol=udp
netsh ipsec static delete filter filterlist=SSH srcaddr=any dstaddr=me protocol=icmp
netsh ipsec static delete filterlist name=SSH
netsh ipsec static delete filteraction A2
netsh ipsec static set rule id=2 policy=P1 description="second rule"
netsh ipsec static set store location=persistent
netsh ipsec static add policy name=Boot assign=yes
netsh ipsec static set store location=local
netsh ipsec static set batch mode=enable
netsh ipsec static add policy name=Doomed
netsh ipsec static delete policy Doomed
netsh ipsec static importpolicy file=C:\policies\old.ipsec
netsh ipsec static show all
