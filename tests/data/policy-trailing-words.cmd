@echo off
rem 服务器锁定 (server lockdown): admins end lines with a comment in their own language
netsh ipsec static add policy name="服务器锁定" assign=no 服务器锁定策略
netsh ipsec static add filteraction name=允许 action=permit 允许通过
netsh ipsec static add filteraction 阻止 action=block 阻止所有
netsh ipsec static add filter filterlist="远程桌面" srcaddr=any dstaddr=me protocol=TCP dstport=3389 远程桌面
netsh ipsec static add filter filterlist="网站" any me protocol=TCP dstport=80 网站 HTTP
netsh ipsec static add filter filterlist="网站" any me "HTTPS alt" TCP yes dstport=8443
netsh ipsec static add filter 网站 10.0.0.0 me "内网" TCP yes 24
netsh ipsec static add filter filterlist=所有 srcaddr=any dstaddr=any 所有流量
netsh ipsec static add rule name="远程桌面" policy="服务器锁定" filterlist="远程桌面" filteraction=允许 远程桌面规则
netsh ipsec static add rule "网站" "服务器锁定" "网站" 允许 -- web
netsh ipsec static add rule name=所有 policy=服务器锁定 filterlist=所有 filteraction=阻止 # block the rest
netsh ipsec static set policy name="服务器锁定" assign=y 启用
netsh ipsec dynamic set config ipsecexempt 3 只豁免IKE
