@echo off
rem The ipsec-drops nightly job as a Windows scheduled task, every night at 02:15, as SYSTEM.
rem Run once from an elevated prompt; adjust C:\ipsec-drops to where the venv and config are.
rem Standard output and error (one JSON object a line) are appended to C:\ipsec-drops\nightly.log;
rem `schtasks /Query /TN "ipsec-drops nightly" /V /FO LIST` shows the last result (the exit code:
rem 0 clean, 1 skipped input, 2 bad config, 3 another run holds the warehouse, 4 failed).
schtasks /Create /F /TN "ipsec-drops nightly" /SC DAILY /ST 02:15 /RU SYSTEM /RL HIGHEST /TR "cmd /c C:\ipsec-drops\.venv\Scripts\ipsec-drops.exe --config C:\ipsec-drops\ipsec-drops.toml nightly --log-format json >> C:\ipsec-drops\nightly.log 2>&1"
