// Package directory holds facts about Microsoft's directory products that the
// report ships as data: Microsoft's names for licence SKUs and the Microsoft
// Entra built-in roles that carry the PRIVILEGED label.
//
// # Tables
//
// Each table is a TSV file under data/, embedded in the binary. The first line
// is a comment that names the Microsoft source and ends with "(last updated
// YYYY-MM-DD)"; the second line is the header; every other line is one row.
//
//	data/licence-skus.tsv  skuId, skuPartNumber, productName
//	    from "Product names and service plan identifiers for licensing"
//	    (learn.microsoft.com/entra/identity/users/licensing-service-plan-reference),
//	    last updated 2025-10-29; see [SKUTableDate].
//	data/entra-roles.tsv   templateId, displayName, privileged (yes or no)
//	    from the "All roles" table of "Microsoft Entra built-in roles"
//	    (learn.microsoft.com/entra/identity/role-based-access-control/permissions-reference),
//	    ms.date 2026-01-20; see [RolesTableDate].
//
// A role is privileged when Microsoft marks it with the PRIVILEGED label
// (the privileged-label icon in the role's description cell). Roles that the
// page names only outside its "All roles" table (the deprecated roles such as
// Device Join, and Guest User, Restricted Guest User, User, Agent User and
// Modern Commerce Administrator) are not in ours: [BuiltInRole] reports them
// as unknown.
//
// # Refreshing a table
//
// Replace the TSV file with a newer copy in the same layout and update the
// date in its first line, then run the package tests: they fail on a malformed
// line, a template id or skuId that is not a GUID, a duplicate id, or a known
// fact that no longer holds (the role facts come from Microsoft's page and
// should change only when Microsoft changes it). For the roles, take the
// "All roles" table of docs/identity/role-based-access-control/permissions-reference.md
// in the public repository MicrosoftDocs/entra-docs: the Template ID column is
// templateId, the link text of the Role column is displayName, and privileged
// is yes when the Description cell holds the "Privileged label icon" image.
//
// # Lookups
//
// The tables are parsed once, on first use, and are safe for concurrent use.
// A malformed line is a programming error that the tests catch; at run time it
// is skipped rather than stopping the report.
//
//	name := directory.ProductName(sku.SkuID, sku.SkuPartNumber)
//	if name == "" {
//		name = sku.SkuPartNumber // not in Microsoft's table
//	}
//	if r, ok := directory.BuiltInRole(def.TemplateID); ok && r.Privileged {
//		// flag the assignment
//	}
package directory
