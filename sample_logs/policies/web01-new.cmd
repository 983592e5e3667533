@echo off
REM ==========================================================================
REM  WEB01 - IPSec packet filter for the public IIS 6.0 server
REM  2026-11 rewrite (CHG-2026-0520): remote administration (Terminal Services, WinRM)
REM  from the admin subnet 10.40.1.8/29 only; DRAFT, not deployed
REM  Kept in change control: \\fs01\netadmin\ipsec\web01.cmd
REM  Run as:  web01.cmd  (needs the IPSEC Services / PolicyAgent service)
REM
REM  Inbound : HTTP/HTTPS from anywhere; FTP, Terminal Services and WinRM only from
REM            the admin subnet
REM  Outbound: HTTP/HTTPS to anywhere (Windows Update), DNS to our DNS server
REM  Anything else is blocked.
REM ==========================================================================
setlocal
set POLICY="WEB01 lockdown"
set ADMIN=10.40.1.8
set ADMINMASK=255.255.255.248

sc config PolicyAgent start= auto >nul
sc start PolicyAgent >nul 2>&1

:: start from a clean slate
netsh ipsec static delete all

:: logging and exemptions (see "Scripting IPSec Policies", tables 3 and 4)
netsh ipsec dynamic set config ipsecdiagnostics 7
netsh ipsec dynamic set config ipsecloginterval 60
REM 2026-03: exemptions opened up while the vendor debugged Kerberos - TODO put back to 3
netsh ipsec dynamic set config ipsecexempt 0
netsh ipsec dynamic set config bootmode block

netsh ipsec static add policy name=%POLICY% description="Packet filtering policy for a standalone Web server" activatedefaultrule=no

netsh ipsec static add filteraction name=Permit action=permit
netsh ipsec static add filteraction name=Block action=block
REM kept for the day the admin net gets IPSec
netsh ipsec static add filteraction name="Require Security" description="ESP 3DES/SHA1, no fallback" action=negotiate qmsec="ESP[3DES,SHA1]:100000k/3600s ESP[3DES,MD5]"

REM --- everything else: blocked ------------------------------------------------
netsh ipsec static add filter filterlist="All Network Traffic" srcaddr=any srcport=0 dstaddr=any dstport=0 protocol=any mirrored=yes description="All traffic"
netsh ipsec static add rule name="Block everything" policy=%POLICY% filterlist="All Network Traffic" filteraction=Block

REM --- web service (Web Listing 2) ------------------------------------------------
netsh ipsec static add filter filterlist="HTTP Server" srcaddr=any srcport=0 dstaddr=me dstport=80 protocol=tcp mirrored=yes description=HTTP
netsh ipsec static add filter filterlist="HTTP Server" any me HTTPS TCP yes dstport=443
netsh ipsec static add rule name="Web server" policy=%POLICY% filterlist="HTTP Server" filteraction=Permit

REM --- FTP, Terminal Services and WinRM from the admin subnet only --------------
netsh ipsec static add filter filterlist="Internal admin" srcaddr=%ADMIN% srcmask=%ADMINMASK% ^
    dstaddr=me dstport=21 protocol=TCP mirrored=yes description="FTP control"
netsh ipsec static add filter filterlist="Internal admin" srcaddr=%ADMIN% srcmask=29 dstaddr=me ^
    dstport=3389 proto=tcp mir=yes desc="Terminal Services"
netsh ipsec static add filter filterlist="Internal admin" srcaddr=%ADMIN% srcmask=29 dstaddr=me ^
    dstport=5985 proto=tcp mir=yes desc="WinRM"
netsh ipsec static add rule name="Internal admin" policy=%POLICY% filterlist="Internal admin" filteraction=Permit

REM --- outbound: DNS to our servers only (Web Listing 3) ----------------------
netsh ipsec static add filter filterlist="DNS client" srcaddr=me dstaddr=DNS protocol=udp dstport=53 description="DNS queries"
netsh ipsec static add filter filterlist="DNS client" srcaddr=me dstaddr=DNS protocol=tcp dstport=53 description="DNS zone data"
netsh ipsec static add rule name="DNS client" policy=%POLICY% filterlist="DNS client" filteraction=Permit

REM old ISP resolver, still used by the backup job - remove after the migration (CHG-2026-0415)
netsh ipsec static add filter filterlist="ISP resolver" srcaddr=me dstaddr=198.18.0.53 protocol=udp dstport=53 mirrored=yes
netsh ipsec static add rule name="ISP resolver" policy=%POLICY% filterlist="ISP resolver" filteraction=Permit

REM 2026-09: SOC ticket 3141 - malware beaconing to a rogue resolver: block it
netsh ipsec static add filter filterlist="Rogue resolver" srcaddr=me dstaddr=198.18.0.53 protocol=udp dstport=53 mirrored=yes
netsh ipsec static add rule name="Block rogue resolver" policy=%POLICY% filterlist="Rogue resolver" filteraction=Block

REM --- outbound: web browsing for Windows Update (Web Listing 4) --------------
netsh ipsec static add filter filterlist="HTTP Client" srcaddr=me dstaddr=any protocol=tcp dstport=80 description="HTTP out"
netsh ipsec static add filter filterlist="HTTP Client" srcaddr=me dstaddr=any protocol=tcp dstport=443 description="HTTPS out"
netsh ipsec static add rule name="Web client" policy=%POLICY% filterlist="HTTP Client" filteraction=Permit

netsh ipsec static set policy name=%POLICY% assign=yes
echo WEB01 IPSec policy applied.
endlocal
