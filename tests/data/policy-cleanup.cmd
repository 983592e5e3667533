@echo off
rem the clean-up sequence real scripts start with: rules, policies, actions, lists ("all" as the name)
netsh ipsec static add policy name=ipsec_base_config
netsh ipsec static add filteraction name=block action=block
netsh ipsec static add filter filterlist=blocklist srcaddr=any dstaddr=me protocol=tcp dstport=135
netsh ipsec static add rule name=r1 policy=ipsec_base_config filterlist=blocklist filteraction=block
netsh ipsec static del filterlist all
netsh ipsec static del rule all ipsec_base_config
netsh ipsec static del policy all
netsh ipsec static del filteraction all
netsh ipsec static del filterlist all
netsh ipsec dynamic set config ipsecexempt 3
netsh ipsec static add policy name=Again
netsh ipsec static add filterlist name=AgainList
netsh ipsec static delete all
