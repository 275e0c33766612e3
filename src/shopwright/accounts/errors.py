"""Account errors."""

from shopwright.errors import Conflict, Forbidden, InvalidRequest, NotFound, Unauthorized


class EmailTaken(Conflict):
    code = "email_taken"
    title = "Email already registered"


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"
    title = "Invalid email or password"


class InvalidToken(Unauthorized):
    code = "invalid_token"
    title = "Invalid or expired token"


class WrongPassword(InvalidRequest):
    code = "wrong_password"
    title = "Current password is incorrect"


class InvalidResetToken(InvalidRequest):
    code = "invalid_reset_token"
    title = "Invalid or expired reset token"


class UserNotFound(NotFound):
    code = "user_not_found"
    title = "User not found"


class AddressNotFound(NotFound):
    code = "address_not_found"
    title = "Address not found"


class AddressBookFull(Conflict):
    code = "address_book_full"
    title = "Address book full"


class CannotDeactivateSelf(Conflict):
    code = "cannot_deactivate_self"
    title = "Admins cannot deactivate themselves"


class LastAdmin(Conflict):
    code = "last_admin"
    title = "The shop needs an active admin"


class AdminRequired(Forbidden):
    code = "admin_required"
    title = "Admin role required"
