@echo off
rem netsh ipsec dynamic set config: positional and property=/value= forms
netsh ipsec dynamic set config ipsecdiagnostics 7
netsh ipsec dynamic set config property=ipsecloginterval value=60
netsh ipsec dynamic set config ipsecexempt value=3
netsh ipsec dynamic set config property=bootmode value=Stateful
netsh ipsec dynamic set config bootexemptions value="tcp:0:3389:inbound UDP:0:53:OUTBOUND"
netsh ipsec dynamic set config strongcrlcheck 1
netsh ipsec dynamic set config ikelogging 1
netsh ipsec dynamic set config ipsecexempt 4
netsh ipsec dynamic set config ipsecloginterval 10
netsh ipsec dynamic set config bootmode open
netsh ipsec dynamic set config loglevel 3
netsh ipsec dynamic set config prop=ipsecexempt val=2
netsh ipsec dynamic delete all
netsh ipsec dynamic add rule srcaddr=any dstaddr=me actioninbound=block
