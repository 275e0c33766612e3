"""Catalog errors."""

from shopwright.errors import Conflict, InvalidRequest, NotFound, ShopError, UnsupportedContent


class CategoryNotFound(NotFound):
    code = "category_not_found"
    title = "Category not found"


class ProductNotFound(NotFound):
    code = "product_not_found"
    title = "Product not found"


class VariantNotFound(NotFound):
    code = "variant_not_found"
    title = "Variant not found"


class CategoryInUse(Conflict):
    code = "category_in_use"
    title = "Category still has products or sub-categories"


class CategoryNameTaken(Conflict):
    code = "category_name_taken"
    title = "Category name or slug already used"


class CurrencyMismatch(InvalidRequest):
    code = "currency_mismatch"
    title = "Variants are priced in their product's currency"


class UnknownCategory(InvalidRequest):
    code = "unknown_category"
    title = "Unknown category"


class InvalidCategoryParent(InvalidRequest):
    code = "invalid_category_parent"
    title = "Invalid parent category"


class SlugTaken(Conflict):
    code = "slug_taken"
    title = "Slug already used"


class SkuTaken(Conflict):
    code = "sku_taken"
    title = "SKU already used"


class ReviewExists(Conflict):
    code = "review_exists"
    title = "You already reviewed this product"


class LastVariant(Conflict):
    code = "last_variant"
    title = "A product keeps at least one active variant"


class UnsupportedImportFile(UnsupportedContent):
    code = "unsupported_import_file"
    title = "Not a CSV or XLSX file"


class InvalidImport(InvalidRequest):
    code = "invalid_import"
    title = "The file has invalid rows; nothing was imported"


class ImportConflict(Conflict):
    code = "import_conflict"
    title = "A concurrent change took a SKU or slug of the import; nothing was imported"


class ImportTooLarge(ShopError):
    status = 413
    code = "import_too_large"
    title = "The file expands to more than the import reads"
