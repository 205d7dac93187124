# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Sphinx configuration of the docs site (scripts/docs copies it beside the generated sources).
# No intersphinx: the build runs offline; the few references to Ansible's own docs resolve to
# ansible_refs.rst, a page of links.

project = "netplumb.container"
copyright = "netplumb.container contributors"
title = "netplumb.container"
html_short_title = "netplumb.container"

extensions = ["sphinx.ext.autodoc", "sphinx_antsibull_ext", "myst_parser"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]
suppress_warnings = ["myst.xref_missing"]

pygments_style = "ansible"
highlight_language = "none"  # untagged blocks in the guides are shell, nft or text

html_theme = "sphinx_ansible_theme"
html_show_sphinx = False
display_version = False
html_use_smartypants = True
html_use_modindex = False
html_use_index = False
html_copy_source = False

default_role = "any"
nitpicky = True
