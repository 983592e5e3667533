@echo off
rem Host W (10.0.0.10): the new script, in which the FTP rule was forgotten
netsh ipsec static delete all
netsh ipsec static add policy name="W lockdown"
netsh ipsec static add filteraction name=Permit action=permit
netsh ipsec static add filteraction name=Block action=block
netsh ipsec static add filter filterlist="All traffic" srcaddr=any dstaddr=any protocol=any mirrored=yes
netsh ipsec static add rule name="Block all" policy="W lockdown" filterlist="All traffic" filteraction=Block
netsh ipsec static add filter filterlist="Web" srcaddr=any dstaddr=me protocol=tcp dstport=80 mirrored=yes
netsh ipsec static add filter filterlist="Web" srcaddr=any dstaddr=me protocol=tcp dstport=443 mirrored=yes
netsh ipsec static add rule name="Web" policy="W lockdown" filterlist="Web" filteraction=Permit
netsh ipsec static add filter filterlist="DNS" srcaddr=me dstaddr=10.0.0.53 protocol=udp dstport=53 mirrored=yes
netsh ipsec static add rule name="DNS" policy="W lockdown" filterlist="DNS" filteraction=Permit
netsh ipsec static set policy name="W lockdown" assign=yes
