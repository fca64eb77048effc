#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Checks that the introspection data covers the whole public API:
#
#  - every symbol the shared library exports is either introspectable in
#    Coop-1.gir (a function, method, constructor, get_type or error quark)
#    or listed in tests/gir-skipped.txt, and nothing listed there became
#    introspectable (or disappeared) without the list saying so;
#  - nothing in the GIR is silently non-introspectable;
#  - every callback parameter of a Coop function says its scope, and a
#    notified one names its closure and destroy notify;
#  - every enumeration named ...Error is a registered error domain (gjs
#    drops errors of unregistered domains);
#  - walking the typelib with the GIRepository API (PyGObject's view of
#    it), every callable resolves to an exported symbol and they are
#    exactly the introspectable functions of the GIR.
#
# Usage: check-gir.py LIBRARY GIR TYPELIB_DIR SKIP_LIST
# Prints TAP.
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

CORE = "{http://www.gtk.org/introspection/core/1.0}"
C = "{http://www.gtk.org/introspection/c/1.0}"
GLIB = "{http://www.gtk.org/introspection/glib/1.0}"
CALLABLES = ("function", "method", "constructor")

results = []


def check(ok, name, details=()):
    results.append((ok, name, list(details)))


def exported_symbols(library):
    out = subprocess.run(["nm", "-D", "--defined-only", library],
                         check=True, capture_output=True, text=True).stdout
    return {line.split()[-1] for line in out.splitlines() if line.strip()}


def read_skip_list(path):
    skipped = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                skipped.add(line)
    return skipped


def main():
    library, gir, typelib_dir, skip_path = sys.argv[1:5]
    exports = exported_symbols(library)
    skipped = read_skip_list(skip_path)
    root = ET.parse(gir).getroot()
    namespace = root.find(CORE + "namespace")

    introspectable = set()       # callables bindings can call
    not_introspectable = set()
    type_symbols = set()         # get_type functions and error quarks
    callbacks = {cb.get("name") for cb in namespace.iter(CORE + "callback")}
    bad_scopes = []

    for element in namespace.iter():
        tag = element.tag[len(CORE):] if element.tag.startswith(CORE) else None
        if element.get(GLIB + "get-type") not in (None, "intern"):
            type_symbols.add(element.get(GLIB + "get-type"))
        if tag not in CALLABLES:
            continue
        symbol = element.get(C + "identifier")
        if element.get("introspectable") == "0":
            not_introspectable.add(symbol)
            continue
        introspectable.add(symbol)
        params = element.find(CORE + "parameters")
        for param in (params if params is not None else []):
            type_el = param.find(CORE + "type")
            if type_el is None or type_el.get("name") not in callbacks:
                continue
            scope = param.get("scope")
            if scope not in ("call", "async", "notified", "forever"):
                bad_scopes.append("%s: %s has no scope" % (symbol, param.get("name")))
            elif scope == "notified" and (param.get("closure") is None or
                                          param.get("destroy") is None):
                bad_scopes.append("%s: %s is notified without closure and destroy"
                                  % (symbol, param.get("name")))

    error_domains = {}
    for enum in namespace.iter(CORE + "enumeration"):
        if enum.get("name").endswith("Error"):
            error_domains[enum.get("name")] = enum.get(GLIB + "error-domain")
            if enum.get(GLIB + "error-domain"):
                type_symbols.add(enum.get(GLIB + "error-domain").replace("-", "_"))

    covered = introspectable | type_symbols
    missing = sorted(exports - covered - skipped)
    check(not missing, "every exported symbol is introspectable or listed as skipped",
          ["not in the GIR and not in %s: %s" % (skip_path, s) for s in missing])

    stale = sorted(s for s in skipped if s not in exports or s in introspectable)
    check(not stale, "every listed skip is an exported, non-introspectable symbol",
          ["%s is %s" % (s, "introspectable" if s in introspectable else "not exported")
           for s in stale])

    silent = sorted(not_introspectable - skipped)
    check(not silent, "nothing in the GIR is non-introspectable without being listed",
          ["%s is not introspectable (a missing annotation?)" % s for s in silent])

    not_exported = sorted(covered - exports)
    check(not not_exported, "everything the GIR names is exported",
          ["%s is in the GIR but not exported" % s for s in not_exported])

    check(not bad_scopes, "every callback parameter has a scope", bad_scopes)

    check(error_domains.get("Error") == "coop-error-quark" and all(error_domains.values()),
          "every ...Error enumeration is a registered error domain",
          ["%s: %s" % kv for kv in error_domains.items() if not kv[1]])

    # The typelib, through GIRepository as bindings see it.
    os.environ["GI_TYPELIB_PATH"] = os.pathsep.join(
        [typelib_dir] + [p for p in os.environ.get("GI_TYPELIB_PATH", "").split(os.pathsep) if p])
    import gi
    repository = gi.Repository.get_default()
    repository.require("Coop", "1", 0)
    seen = set()
    unresolved = []

    def visit(info, owner):
        symbol = info.get_symbol()
        seen.add(symbol)
        if symbol not in exports:
            unresolved.append("%s.%s (%s)" % (owner, info.get_name(), symbol))

    for info in repository.get_infos("Coop"):
        kind = type(info).__name__
        if kind == "FunctionInfo":
            visit(info, "Coop")
        for getter in ("get_methods",):
            if hasattr(info, getter):
                for method in getattr(info, getter)():
                    visit(method, info.get_name())
    check(not unresolved, "every callable in the typelib resolves to an exported symbol",
          unresolved)
    diff = sorted((introspectable ^ seen))
    check(not diff, "the typelib holds exactly the GIR's introspectable callables (%d)" % len(seen),
          ["only in %s: %s" % ("the GIR" if s in introspectable else "the typelib", s)
           for s in diff])

    for number, (ok, name, details) in enumerate(results, 1):
        print("%s %d - %s" % ("ok" if ok else "not ok", number, name))
        for line in details:
            print("# " + line)
    print("1..%d" % len(results))
    print("# %d exported symbols: %d introspectable callables, %d type/quark "
          "functions, %d skipped" % (len(exports), len(introspectable),
                                     len(type_symbols & exports), len(skipped)))
    return 0 if all(ok for ok, _, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
