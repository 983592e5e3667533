@ECHO OFF
rem cmd.exe syntax that netsh never sees: comments, labels, variables, continuations
REM the policy name comes from a variable, the mail relays from %1 and %2
:: a double-colon comment
setlocal
set "POL=Batch Policy"
set LIST=Mail
set UNUSED=
sc config PolicyAgent start= auto
netsh ipsec static add policy name="%POL%" description=100%% tested
netsh.exe ipsec static add filteraction name=Permit action=permit >nul 2>&1
C:\WINDOWS\system32\netsh.exe ipsec static add filteraction name=Block action=block 1>nul
"%SystemRoot%\system32\netsh.exe" -c ipsec static add filterlist name=%LIST%
netsh ipsec static add filter filterlist=%LIST% srcaddr=%1 dstaddr=me ^
    protocol=tcp dstport=25
netsh ipsec static add filter filterlist=%LIST% srcaddr=%~2 dstaddr=me protocol=tcp dstport=110 & netsh ipsec static add rule name=Mail policy="%POL%" filterlist=%LIST% filteraction=Permit
netsh ipsec static add filter filterlist=Web srcaddr=any dstaddr=me protocol=tcp dstport=80 || echo failed
netsh ipsec static add filter filterlist=Web srcaddr=any dstaddr=me protocol=tcp dstport=8^080 | find "ERR"
if "%3"=="" goto skip
netsh ipsec static add filter filterlist=Web srcaddr=any dstaddr=me protocol=tcp dstport=8443
:skip
goto rules
netsh ipsec static add filter filterlist=Web srcaddr=any dstaddr=me protocol=tcp dstport=9999
:rules
netsh -r otherhost ipsec static delete all
netsh -f more-rules.txt
# a netsh comment in a batch file
ipconfig /all
foo.exe --do-something
netsh firewall set opmode mode=enable
netsh ipsec static add rule name=Web policy="%POL%" filterlist=Web filteraction=Block
netsh ipsec static add filter filterlist=Web srcaddr=%RELAY% dstaddr=me protocol=tcp dstport=2525
netsh ipsec static set policy name="%POL%" assign=y
goto :eof
netsh ipsec static delete all
