@echo off
rem tags as unique prefixes, values in any case, positional values, spaces around =, trailing words
netsh ipsec static add policy "Tag Policy (2026)" desc="quoted name with spaces and (parentheses)" mmsec="3des-sha1-2 3DES-MD5-3" activatedefaultrule=NO pollinginterval = 60
netsh ipsec static add filteraction Permit action=PERMIT
netsh ipsec static add filteraction name = "Secure" qmpfs=Y inpass=n soft=no action=NEGOTIATE qmsec="esp[3des,sha1]:100000k/2000s AH[MD5]"
netsh ipsec static add filteraction Drop description=Block all traffic action=block
netsh ipsec static a filterl name= Web
netsh ipsec static add filter filterlist=Web srca=Any dsta=ME proto=TCP dstport=80 mir=YES desc=HTTP
netsh ipsec static add filter Web any me HTTPS TCP no dstport=443
netsh ipsec static add filter filterlist=Web srcaddr=10.0.0.0 srcmask=255.255.255.0 dstaddr=me protocol=6 srcport=0 dstport=8080 mirrored=n
netsh ipsec static add rule "Web in" "Tag Policy (2026)" Web Permit con=lan act=y kerb=yes
netsh ipsec static add rule name="Web secure" policy="Tag Policy (2026)" filterlist=web filteraction=Secure psk="pre shared key" rootca="C=US, O=Example CA certmap:yes excludecaname:no" rootca="C=US, O=Second CA"
netsh ipsec static add filterlist description="moved" Moved
netsh ipsec static set pol "Tag Policy (2026)" assign=y
netsh ipsec static del filteraction Drop
rem each of these is refused by netsh, and the script goes on
netsh ipsec static add filter filterlist=Web s=any dstaddr=me
netsh ipsec static add filter filterlist=Web srcaddr=any dstaddr=me colour=red
netsh ipsec static add filter filterlist=Web srcaddr=any srcaddr=me dstaddr=me
netsh ipsec static add filter filterlist=Web srcaddr=any dstaddr=me mirrored=maybe
netsh ipsec static add filter filterlist=Web srcaddr=any dstaddr=me protocol=tcp dstport=65536
netsh ipsec static add filter filterlist=Web srcaddr=any
netsh ipsec static add filteraction "Other" "Other action" maybe action=block
netsh ipsec static add filterlist A B C description=D
netsh ipsec static s policy "Tag Policy (2026)" assign=y
netsh ipsec static add policyfoo name=X
