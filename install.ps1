<#
.SYNOPSIS
  Installs cipp-setup into .venv beside this script (Windows PowerShell 5.1 or PowerShell 7),
  then optionally runs it.

.DESCRIPTION
  Checks, BEFORE pip runs, that the Python found is 3.10+ and that Windows long-path support
  is on (msgraph-sdk installs paths longer than Windows' default 260 characters); when either
  is not so, prints one paragraph saying what to do and stops, having installed nothing.
  The checks are tools\windows_preflight.py (tested on any OS with the registry stood in for).

.EXAMPLE
  powershell -ExecutionPolicy Bypass -File .\install.ps1 demo
  Installs, then runs the wizard against the built-in sandbox tenant.

.EXAMPLE
  powershell -ExecutionPolicy Bypass -File .\install.ps1 -Tests
  Installs with the test dependencies (editable), then runs the test suite.
#>
# A simple script (no CmdletBinding): every other argument, --options included, lands in
# $args and goes to cipp-setup unchanged, with no PowerShell common parameter in the way.
param(
    # Install '.[test]' (editable) and run the test suite instead of the tool.
    [switch]$Tests
)
$CippSetupArgs = @($args)

# Not 'Stop': under Windows PowerShell 5.1 a native program's stderr can become a
# terminating error; every native call's exit code is checked instead.
$ErrorActionPreference = 'Continue'
Set-Location -LiteralPath $PSScriptRoot -ErrorAction Stop

function Stop-Install([string]$Message, [int]$Code) {
    [Console]::Error.WriteLine($Message)
    exit $Code
}

# The py launcher first: on a fresh Windows, 'python' is often the Microsoft Store stub
# (a WindowsApps alias that opens the Store instead of running anything).
$python = @()
if (Get-Command py -ErrorAction SilentlyContinue) {
    $python = @('py', '-3')
} else {
    $found = Get-Command python -ErrorAction SilentlyContinue
    if ($found -and ($found.Source -notlike '*\WindowsApps\*')) { $python = @($found.Source) }
}
if ($python.Count -eq 0) {
    Stop-Install ('cipp-setup was not installed: no Python was found (neither the py launcher ' +
        'nor python.exe; the Microsoft Store alias does not count). Install Python 3.10 or newer ' +
        '(winget install Python.Python.3.12, or from python.org), then run the install again.') 2
}
$pythonExe = $python[0]
$pythonArgs = @($python | Select-Object -Skip 1)

# Before pip: Python version and long paths (exit 3 or 4 with the paragraph on stderr).
& $pythonExe @pythonArgs (Join-Path $PSScriptRoot 'tools\windows_preflight.py')
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }

$venvPython = Join-Path $PSScriptRoot '.venv\Scripts\python.exe'
if (-not (Test-Path -LiteralPath $venvPython)) {
    & $pythonExe @pythonArgs -m venv (Join-Path $PSScriptRoot '.venv')
    if ($LASTEXITCODE -ne 0) { Stop-Install 'cipp-setup was not installed: creating .venv failed (see above).' $LASTEXITCODE }
}

if ($Tests) { $target = @('-e', '.[test]') } else { $target = @('.') }
& $venvPython -m pip install --disable-pip-version-check @target
if ($LASTEXITCODE -ne 0) { Stop-Install 'cipp-setup was not installed: pip failed (see above).' $LASTEXITCODE }

if ($Tests) {
    & $venvPython -m pytest
    exit $LASTEXITCODE
}
$cli = Join-Path $PSScriptRoot '.venv\Scripts\cipp-setup.exe'
if ($CippSetupArgs.Count -gt 0) {
    & $cli @CippSetupArgs
    exit $LASTEXITCODE
}
Write-Host "cipp-setup is installed: run it as .venv\Scripts\cipp-setup (for example: .venv\Scripts\cipp-setup demo)."
exit 0
