"""Every refusal of the signing library, with a message in Russian and in English.

Callers catch :class:`SigningLibraryError` (or a subclass) and show ``message_ru`` to a clerk,
``message_en`` to logs and API clients; ``str(err)`` carries both.
"""

from __future__ import annotations


class SigningLibraryError(Exception):
    """Base class of every error raised on purpose by ``signing``."""

    message_ru: str = "Ошибка электронной подписи."
    message_en: str = "Electronic signature error."

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail
        text = f"{self.message_ru} / {self.message_en}"
        super().__init__(f"{text} ({detail})" if detail else text)

    def __reduce__(self) -> tuple[type, tuple[str | None]]:
        return (type(self), (self.detail,))


class PkiError(SigningLibraryError):
    message_ru = "Ошибка инфраструктуры ключей организации."
    message_en = "Error in the organisation's PKI."


class CaLoadError(PkiError):
    message_ru = "Не удалось загрузить удостоверяющий центр: неверная парольная фраза или повреждённые файлы."
    message_en = "Cannot load the certificate authority: wrong passphrase or damaged files."


class WrongPin(PkiError):
    message_ru = "Неверный PIN-код ключа подписи."
    message_en = "Wrong PIN for the signing key."


class CertificateNotYetValid(PkiError):
    message_ru = "Сертификат подписанта ещё не начал действовать."
    message_en = "The signer's certificate is not valid yet."


class CertificateExpired(PkiError):
    message_ru = "Срок действия сертификата подписанта истёк."
    message_en = "The signer's certificate has expired."


class CertificateRevoked(PkiError):
    message_ru = "Сертификат подписанта отозван."
    message_en = "The signer's certificate has been revoked."


class KeyMismatch(PkiError):
    message_ru = "Ключ не соответствует сертификату."
    message_en = "The private key does not match the certificate."


class Pkcs12ImportError(PkiError):
    message_ru = "Не удалось открыть файл PKCS#12: неверный пароль или повреждённый файл."
    message_en = "Cannot open the PKCS#12 file: wrong password or damaged file."


class UnsupportedKey(PkiError):
    message_ru = "Тип ключа не поддерживается (поддерживаются ECDSA и RSA)."
    message_en = "Unsupported key type (ECDSA and RSA are supported)."


class DocumentError(SigningLibraryError):
    message_ru = "Документ нельзя подписать."
    message_en = "The document cannot be signed."


class NotAPdf(DocumentError):
    message_ru = "Файл не является PDF-документом."
    message_en = "The file is not a PDF document."


class BrokenPdf(DocumentError):
    message_ru = "PDF-документ повреждён и не может быть прочитан."
    message_en = "The PDF document is damaged and cannot be read."


class EncryptedPdf(DocumentError):
    message_ru = "PDF-документ зашифрован; снимите защиту перед подписанием."
    message_en = "The PDF document is encrypted; remove the protection before signing."


class ModificationForbidden(DocumentError):
    message_ru = "Имеющаяся подпись документа запрещает дальнейшие изменения и подписи."
    message_en = "An existing signature of the document forbids further changes and signatures."


class TimestampError(SigningLibraryError):
    message_ru = "Служба штампов времени недоступна или ответила ошибкой; документ не подписан."
    message_en = "The time-stamp authority is unreachable or answered with an error; nothing was signed."


class StampError(SigningLibraryError):
    message_ru = "Не удалось нарисовать штамп подписи."
    message_en = "Cannot draw the signature stamp."


class FontMissing(StampError):
    message_ru = "Не найден шрифт DejaVuSans с кириллицей (пакет fonts-dejavu-core)."
    message_en = "The Cyrillic font DejaVuSans was not found (Debian package fonts-dejavu-core)."


class SignatureFailed(SigningLibraryError):
    message_ru = "Не удалось создать подпись."
    message_en = "The signature could not be created."


class NotASignature(SigningLibraryError):
    message_ru = "Файл не является подписью CMS (.p7s)."
    message_en = "The file is not a CMS signature (.p7s)."
