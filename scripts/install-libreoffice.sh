#!/usr/bin/env bash
# Installs what the rendering tests need, when it is missing: LibreOffice
# Calc without a GUI (soffice, to convert workbooks to PDF the way a person's
# spreadsheet program reads them) and poppler-utils (pdftoppm, to render the
# pages). On Debian as root it installs them with apt-get; elsewhere it says
# what to install and exits 0, and the rendering tests skip (or fail under
# CI, where they must run).
set -euo pipefail

if command -v soffice >/dev/null 2>&1 && command -v pdftoppm >/dev/null 2>&1; then
	exit 0
fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
	echo "install-libreoffice: soffice or pdftoppm is missing; install libreoffice-calc-nogui and poppler-utils to run the rendering tests" >&2
	exit 0
fi
echo "install-libreoffice: installing libreoffice-calc-nogui and poppler-utils (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends libreoffice-calc-nogui poppler-utils >&2
