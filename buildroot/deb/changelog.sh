#!/bin/sh
# Writes the Debian changelog of a package built from this checkout to
# standard output: one entry for VERSION, naming the commit it was built
# from, dated with that commit (so the same commit gives the same file).
# The package is native (its version has no Debian revision), so the
# changelog is installed as /usr/share/doc/cardstop/changelog.gz.
#
#   changelog.sh VERSION 'Name <address>'
set -eu
[ $# -eq 2 ] || { echo "usage: $0 VERSION 'Name <address>'" >&2; exit 2; }
version=$1
maintainer=$2
commit=$(git rev-parse HEAD)
date=$(git log -1 --format=%aD "$commit")
# The subject, wrapped for the changelog's 80 columns.
subject=$(git log -1 --format=%s "$commit" | fold -s -w 68 | sed -e '1!s/^/    /' -e 's/[[:space:]]*$//')
changes=
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
	changes="
  * Built with uncommitted changes to the files of that commit."
fi
cat <<END
cardstop ($version) unstable; urgency=medium

  * Built from commit $commit:
    $subject$changes

 -- $maintainer  $date
END
