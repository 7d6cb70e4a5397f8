# package.cmake - `cpack -G DEB` in a build tree: a Debian package of what `cmake
# --install` puts in place, for the prefix the tree was configured for. Configure with
# -DCMAKE_INSTALL_PREFIX=/usr for a package that lintian accepts (README, "Packages").
#
# CPack's DEB generator does not mark conffiles (debhelper does), so the control extras
# name the config; the maintainer scripts create the user and give its group the config.

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME snk)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "the SNK authors <snk@example.org>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "keeps one PostgreSQL table identical in two databases, both ways")
# CPack indents these lines and turns the empty one into " .".
# The synopsis line is CPACK_PACKAGE_DESCRIPTION_SUMMARY; this is what follows it.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "snk is a daemon that makes every row inserted into an insert-only table of
one PostgreSQL database exist in the same table of another within
milliseconds, in both directions, with plain SQL: no replication slots,
publications, logical decoding, dblink or postgres_fdw. It loses nothing and
duplicates nothing across crashes, restarts and out-of-order commits.

This package holds snk, snkctl, the systemd unit, man pages and bash
completion; the load generator tst and the latency probe are in
/usr/libexec/snk.")
set(CPACK_DEBIAN_PACKAGE_SECTION database)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
# Library dependencies under Debian's package names, found by dpkg-shlibdeps.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "systemd-sysusers")
# The example config verifies servers against the system's bundle of public CAs.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "ca-certificates")
set(CPACK_STRIP_FILES ON)
# The same paths as the unit and the scripts, which were configured for this prefix;
# DESTDIR, so that /etc is staged, never written.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

foreach(f postinst prerm postrm conffiles)
  configure_file(${CMAKE_SOURCE_DIR}/dist/deb/${f}.in ${CMAKE_BINARY_DIR}/deb/${f} @ONLY)
  list(APPEND CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${CMAKE_BINARY_DIR}/deb/${f})
endforeach()

# Debian wants a copyright file and a changelog in the package's doc directory.
file(READ ${CMAKE_SOURCE_DIR}/LICENSE SNK_LICENSE)
string(REGEX REPLACE "^PostgreSQL License\n\n" "" SNK_LICENSE "${SNK_LICENSE}")
string(REGEX REPLACE "\n+$" "" SNK_LICENSE "${SNK_LICENSE}")
string(REGEX REPLACE "\n\n" "\n.\n" SNK_LICENSE "${SNK_LICENSE}")
string(REGEX REPLACE "\n" "\n " SNK_LICENSE "${SNK_LICENSE}")
file(WRITE ${CMAKE_BINARY_DIR}/deb/copyright
"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: snk

Files: *
Copyright: 2026, the SNK authors
License: PostgreSQL
 ${SNK_LICENSE}
")
string(TIMESTAMP SNK_CHANGELOG_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)
file(WRITE ${CMAKE_BINARY_DIR}/deb/changelog
"snk (${PROJECT_VERSION}) unstable; urgency=medium

  * Built from the source tree with CPack; the project's history is its git log.

 -- ${CPACK_PACKAGE_CONTACT}  ${SNK_CHANGELOG_DATE}
")
add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/deb/changelog.gz
  COMMAND gzip -9nkf ${CMAKE_BINARY_DIR}/deb/changelog
  DEPENDS ${CMAKE_BINARY_DIR}/deb/changelog VERBATIM)
add_custom_target(deb_changelog ALL DEPENDS ${CMAKE_BINARY_DIR}/deb/changelog.gz)
install(FILES ${CMAKE_BINARY_DIR}/deb/copyright ${CMAKE_BINARY_DIR}/deb/changelog.gz
        DESTINATION ${CMAKE_INSTALL_DOCDIR})

include(CPack)
