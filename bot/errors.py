"""One exception tree for everything a user or an operator can cause, with French messages."""

from __future__ import annotations


class AgoraError(Exception):
    """Base of every error Agora raises on purpose; `user_message` is what a chat user reads."""

    #: Short stable identifier used in logs and metrics ("fetch.blocked", ...).
    kind: str = "agora"
    #: French text shown to users; subclasses override or pass `user_message=`.
    default_message: str = "Une erreur inattendue est survenue."

    def __init__(self, detail: str = "", *, user_message: str | None = None) -> None:
        super().__init__(detail or self.default_message)
        self.detail = detail
        self._user_message = user_message

    @property
    def user_message(self) -> str:
        """The French sentence a chat user sees for this error."""
        return self._user_message or self.default_message


class ConfigError(AgoraError):
    """The configuration file is invalid; the message names the key."""

    kind = "config"
    default_message = "La configuration est invalide."


# --- fetching -----------------------------------------------------------------------------------------


class FetchError(AgoraError):
    """The link could not be fetched."""

    kind = "fetch"
    default_message = "Impossible de récupérer ce lien."


class InvalidURL(FetchError):
    kind = "fetch.invalid_url"
    default_message = "Ce lien n'est pas une adresse web valide (http ou https)."


class BlockedAddress(FetchError):
    kind = "fetch.blocked"
    default_message = "Ce lien pointe vers une adresse privée ou réservée : je ne le consulte pas."


class TooManyRedirects(FetchError):
    kind = "fetch.redirects"
    default_message = "Ce lien redirige trop de fois."


class FetchTimeout(FetchError):
    kind = "fetch.timeout"
    default_message = "Le site a mis trop de temps à répondre."


class TooLarge(FetchError):
    kind = "fetch.too_large"
    default_message = "La page est trop volumineuse pour être résumée."


class UnsupportedContent(FetchError):
    kind = "fetch.unsupported"
    default_message = "Ce type de contenu n'est pas pris en charge (seulement pages web, PDF et texte)."


class UnsupportedContentType(UnsupportedContent):
    """The server declared (or the bytes showed) a media type the pipeline cannot read."""

    def __init__(self, content_type: str) -> None:
        shown = f"« {content_type} »" if content_type else "inconnu"
        super().__init__(
            content_type or "unknown content type",
            user_message=(
                f"Ce lien mène à un contenu de type {shown}, que je ne sais pas résumer "
                "(seulement pages web, PDF et texte)."
            ),
        )
        self.content_type = content_type


class HTTPStatusError(FetchError):
    kind = "fetch.status"
    default_message = "Le site a refusé la demande."

    def __init__(self, status: int, detail: str = "") -> None:
        super().__init__(
            detail or f"HTTP {status}",
            user_message=f"Le site a répondu par une erreur (HTTP {status}).",
        )
        self.status = status


class ConnectionFailed(FetchError):
    kind = "fetch.connection"
    default_message = "Impossible de joindre le site (connexion refusée ou nom introuvable)."


class DomainNotAllowed(FetchError):
    kind = "fetch.domain"
    default_message = "Ce domaine n'est pas autorisé sur ce serveur."


# --- extraction ----------------------------------------------------------------------------------------


class ExtractError(AgoraError):
    """The document holds no readable article."""

    kind = "extract"
    default_message = "Je n'ai pas trouvé d'article lisible à cette adresse."


class NoArticle(ExtractError):
    kind = "extract.no_article"


# --- model and queue -----------------------------------------------------------------------------------


class ModelError(AgoraError):
    kind = "model"
    default_message = "Le modèle de langage a rencontré une erreur ; réessayez plus tard."


class ModelInstallError(ModelError):
    kind = "model.install"
    default_message = "Le modèle intégré n'a pas pu être installé."


class QueueFull(AgoraError):
    kind = "queue.full"
    default_message = "Trop de résumés sont en attente ; réessayez dans quelques minutes."


class RateLimited(AgoraError):
    kind = "rate_limited"
    default_message = "Vous avez demandé beaucoup de résumés : patientez un peu avant le prochain."


# --- chat commands -------------------------------------------------------------------------------------


class CommandError(AgoraError):
    kind = "command"
    default_message = "Commande invalide."


class PermissionDenied(CommandError):
    kind = "command.permission"
    default_message = "Seuls les modérateurs peuvent modifier la configuration."


def user_message(exc: BaseException) -> str:
    """French message for any exception: ours carry one, anything else gets a generic apology."""
    if isinstance(exc, AgoraError):
        return exc.user_message
    return AgoraError.default_message
