@echo off
rem 服务器安全策略 (IPSec): 关闭危险端口, 远程桌面只允许内网
rem 作者: 运维组
netsh ipsec static delete all
netsh ipsec static add policy name="服务器安全策略" description="关闭危险端口"
netsh ipsec static add filteraction name="允许" action=permit
netsh ipsec static add filteraction name="阻止" action=block
rem 远程桌面
netsh ipsec static add filter filterlist="远程桌面" srcaddr=10.0.0.0 srcmask=255.0.0.0 dstaddr=me protocol=TCP dstport=3389 description="内网远程桌面"
rem 网站
netsh ipsec static add filter filterlist="网站" srcaddr=any dstaddr=me protocol=TCP dstport=80 description="网页"
netsh ipsec static add filter filterlist="网站" srcaddr=any dstaddr=me protocol=TCP dstport=443 description="安全网页"
rem 危险端口: 135 139 445
netsh ipsec static add filter filterlist="危险端口" srcaddr=any dstaddr=me protocol=TCP dstport=135 远程过程调用
netsh ipsec static add filter filterlist="危险端口" srcaddr=any dstaddr=me protocol=TCP dstport=139 NetBIOS会话
netsh ipsec static add filter filterlist="危险端口" srcaddr=any dstaddr=me protocol=TCP dstport=445 文件共享
netsh ipsec static add rule name="允许远程桌面" policy="服务器安全策略" filterlist="远程桌面" filteraction="允许"
netsh ipsec static add rule name="允许网站" policy="服务器安全策略" filterlist="网站" filteraction="允许"
netsh ipsec static add rule name="阻止危险端口" policy="服务器安全策略" filterlist="危险端口" filteraction="阻止"
netsh ipsec static set policy name="服务器安全策略" assign=y
echo 完成。
