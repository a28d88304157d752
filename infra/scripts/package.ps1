# Windows twin of package.sh (azure.yaml runs it on Windows): stages the Function App package in
# bin/deploy: host.json, every top-level <Function>/function.json, and bin/handler built for
# linux/amd64. See package.sh for why.
#
# Windows files have no Unix mode, so a zip made here has no execute bit for bin/handler (azd keeps
# the modes it finds only on Linux and macOS); on Flex Consumption the Functions host sets it on the
# custom handler before starting it.
$ErrorActionPreference = 'Stop'

$root = (Resolve-Path (Join-Path $PSScriptRoot '..' '..')).Path
Set-Location $root
$out = Join-Path $root 'bin/deploy'

if (Test-Path $out) { Remove-Item -Recurse -Force $out }
New-Item -ItemType Directory -Force -Path (Join-Path $out 'bin') | Out-Null

Write-Host "package: building $out/bin/handler (linux/amd64)"
$saved = @{ GOOS = $env:GOOS; GOARCH = $env:GOARCH; CGO_ENABLED = $env:CGO_ENABLED }
try {
    $env:GOOS = 'linux'; $env:GOARCH = 'amd64'; $env:CGO_ENABLED = '0'
    go build -trimpath '-ldflags=-s -w' -o (Join-Path $out 'bin/handler') ./handler
    if ($LASTEXITCODE -ne 0) { throw "go build failed with exit code $LASTEXITCODE" }
}
finally {
    $env:GOOS = $saved.GOOS; $env:GOARCH = $saved.GOARCH; $env:CGO_ENABLED = $saved.CGO_ENABLED
}

Copy-Item (Join-Path $root 'host.json') $out
$functions = Get-ChildItem -Path $root -Directory | Where-Object { Test-Path (Join-Path $_.FullName 'function.json') }
if (-not $functions) { throw "package: no */function.json found in $root" }
foreach ($dir in $functions) {
    $dest = Join-Path $out $dir.Name
    New-Item -ItemType Directory -Force -Path $dest | Out-Null
    Copy-Item (Join-Path $dir.FullName 'function.json') $dest
    Write-Host "package: function $($dir.Name)"
}
Write-Host "package: staged $out"
