# ============================================================================
#  DB01 - IPSec policy of the SQL Server 2000 host (10.1.0.20)
#  Run with:   netsh -f db01.cmd
#  (a netsh script, not a batch file: no "netsh" in front of the commands)
#
#  - SQL (TCP 1433) only from the web server WEB01 10.1.0.10
#  - APP02 10.1.0.50 (old application server, being retired) must use IPSec
#    for everything and may not reach SQL directly any more
#  - everything else is blocked
# ============================================================================

pushd ipsec static
set store location=local
delete all

# --- filter actions ------------------------------------------------------------
add filteraction name="Permit" action=permit
add filteraction name="Block" action=block
add filteraction name="Require IPSec" description="ESP only, no clear text fallback" qmpfs=no inpass=no soft=no action=negotiate qmsecmethods="ESP[3DES,SHA1] ESP[3DES,MD5]"
add filteraction name="Request IPSec" action=negotiate soft=yes inpass=yes qmsec="ESP[3DES,SHA1]"

# --- filter lists ----------------------------------------------------------------
add filterlist name="SQL from WEB01" description="web tier to database"
add filter filterlist="SQL from WEB01" srcaddr=10.1.0.10 dstaddr=me protocol=TCP dstport=1433 mirrored=yes description="SQL Server"

add filterlist name="APP02 no SQL"
add filter filterlist="APP02 no SQL" srcaddr=10.1.0.50 dstaddr=me protocol=TCP dstport=1433 mirrored=yes

add filterlist name="APP02 all traffic"
add filter filterlist="APP02 all traffic" srcaddr=10.1.0.50 srcmask=255.255.255.255 dstaddr=me protocol=ANY mirrored=yes

add filterlist name="All traffic"
add filter filterlist="All traffic" srcaddr=any dstaddr=any protocol=any mirrored=yes

# Backup agent: list created with a placeholder filter so the rule could be
# added before the backup subnet was known (the SpyLog trick) - filter to follow
add filterlist name="Backup agent"
add filter filterlist="Backup agent" srcaddr=192.0.2.250 dstaddr=me protocol=tcp dstport=10000
# --- policy and rules --------------------------------------------------------------
add policy name="DB01 SQL lockdown" description="SQL server: web tier only, APP02 over IPSec" activatedefaultrule=no mmsec="3DES-SHA1-2 3DES-MD5-2"
add rule name="SQL from web tier" policy="DB01 SQL lockdown" filterlist="SQL from WEB01" filteraction="Permit"
add rule name="APP02 not to SQL" policy="DB01 SQL lockdown" filterlist="APP02 no SQL" filteraction="Block"
add rule name="APP02 secured" policy="DB01 SQL lockdown" filterlist="APP02 all traffic" filteraction="Require IPSec" kerberos=yes
add rule name="Backup agent" policy="DB01 SQL lockdown" filterlist="Backup agent" filteraction="Permit"
add rule name="Block all" policy="DB01 SQL lockdown" filterlist="All traffic" filteraction="Block"
delete filter filterlist="Backup agent" srcaddr=192.0.2.250 dstaddr=me

set policy name="DB01 SQL lockdown" assign=yes
popd

# --- driver settings ------------------------------------------------------------------
pushd ipsec dynamic
set config property=ipsecdiagnostics value=7
set config property=ipsecexempt value=3
# fast reboots during the SQL SP4 rollout; revert to block afterwards
set config property=bootmode value=permit
popd
exit

# everything below is an old draft and is never run
pushd ipsec static
add rule name="Old draft" policy="DB01 SQL lockdown" filterlist="All traffic" filteraction="Permit"
popd
