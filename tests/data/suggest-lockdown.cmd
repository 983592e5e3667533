@echo off
rem Host H (10.0.0.1): block everything but the web server; a rogue resolver is blocked on purpose
netsh ipsec static delete all
netsh ipsec static add policy name="H lockdown" description="test policy for suggestions"
netsh ipsec static add filteraction name=Permit action=permit
netsh ipsec static add filteraction name=Block action=block
netsh ipsec static add filter filterlist="All traffic" srcaddr=any dstaddr=any protocol=any mirrored=yes
netsh ipsec static add rule name="Block all" policy="H lockdown" filterlist="All traffic" filteraction=Block
netsh ipsec static add filter filterlist="Web" srcaddr=any dstaddr=me protocol=tcp dstport=80 mirrored=yes
netsh ipsec static add rule name="Web" policy="H lockdown" filterlist="Web" filteraction=Permit
netsh ipsec static add filter filterlist="Rogue resolver" srcaddr=me dstaddr=198.18.0.53 protocol=udp dstport=53 mirrored=yes
netsh ipsec static add rule name="Block rogue resolver" policy="H lockdown" filterlist="Rogue resolver" filteraction=Block
netsh ipsec static set policy name="H lockdown" assign=yes
