/**
 * Every text the emulator's webview shows, in English and French: Powens' webview speaks the
 * language of its path segment (`/fr/connect`); the emulator has these two, and English serves
 * the other languages Powens offers. `{name}` marks a value put in by `text()`; the pages escape
 * the result.
 */

const EN = {
  secureConnection: 'Secure connection',
  emulatorNote: 'Powens emulator: a local stand-in for the Powens webview. No real bank is contacted.',
  error: 'Error',
  errorTitle: 'This page cannot be shown',
  errorStatus: 'Error {status}. Go back to the application and try again.',

  connectTitle: 'Connect your bank',
  connectLead: 'Choose your bank, then sign in with your online banking credentials. Your app never sees them.',
  connectOneLead: 'Sign in with your online banking credentials. Your app never sees them.',
  chooseBank: 'Choose your bank',
  signInBank: 'Sign in to your bank',
  signInTo: 'Sign in to {bank}',
  kindBank: 'Bank',
  kindTransfers: 'Bank · transfers',
  login: 'Login',
  password: 'Password',
  hintAny: 'Emulator: any login and password are accepted.',
  hintMagic: 'Test logins, with any password, play what a bank may ask:',
  hintTestConnector:
    'With “Connecteur de test”, a login that names a Powens state (SCARequired, wrongpass, websiteUnavailable, ...) creates the connection in that state.',
  magicWrongpass: 'the bank refuses the password once; type it again',
  magicSca: 'the bank sends a one-time code to type ({code})',
  magicDecoupled: 'approve the access in the banking app, then continue',
  magicQuestion: 'the bank asks one more question',
  magicExpiring: 'the consent of the connection ends in {days} days',
  magicCombine: 'Combine them with +, e.g. sca+expiring.',
  terms: 'By connecting, you accept Powens’ terms of service and privacy policy. Your data is shared read-only.',
  connect: 'Connect',
  cancel: 'Cancel',
  decline: 'Decline terms',

  reconnectTitle: 'Reconnect your bank',
  reconnectHeading: 'Reconnect {bank}',
  reconnectLead: 'Your bank needs you to sign in again so that your accounts keep updating.',
  reconnectResetLead: 'Your bank no longer accepts the saved credentials: enter your login and password again.',
  reconnect: 'Reconnect',

  manageTitle: 'Manage your bank connections',
  manageHeading: 'Your bank connections',
  manageLead: 'Remove the connections you no longer want to share.',
  noConnection: 'No bank connection.',
  remove: 'Remove',
  done: 'Done',
  removed: '{bank} was removed.',
  upToDate: 'Up to date',
  lastSynced: 'last synced {date}',
  consentUntil: 'consent until {date}',

  chooseBankError: 'Choose your bank.',
  credentialsError: 'Enter your login and password.',
  wrongPassword: 'Wrong login or password. Check them and try again.',

  otpTitle: 'Confirm it is you',
  otpLead: '{bank} sent a 6-digit code to your phone. Enter it to continue.',
  otpLabel: 'One-time code',
  otpHint: 'Emulator: the code is {code}.',
  otpError: 'This code is not right. Check the text message and try again.',
  confirm: 'Confirm',

  decoupledTitle: 'Approve in your banking app',
  decoupledLead: 'Open the {bank} app on your phone and approve the access request, then continue here.',
  decoupledNotYet: 'Your bank has not received your approval yet. Approve the request in the app, then continue.',
  decoupledApproved: 'Approved in the app. You can continue.',
  approveOnPhone: 'Approve on the phone (emulator)',
  continue: 'Continue',

  questionTitle: 'Your bank needs more information',
  questionLead: '{bank} asks one more question before it shares your accounts.',
  questionLabel: 'Your date of birth (DD/MM/YYYY)',
  questionError: 'Answer the question to continue.',

  missingParameter: 'Missing parameter: {name}.',
  repeatedParameter: 'The parameter {name} is given more than once.',
  repeatedField: 'The field {name} is given more than once.',
  unknownDomain: 'Unknown domain: this webview does not serve it.',
  unknownClient: 'Unknown client_id.',
  redirectNotAllowed: 'The redirect_uri is not white-listed for this client application.',
  codeUsed: 'The code has already been used.',
  codeExpired: 'The code has expired.',
  codeInvalid: 'The code is not valid.',
  unknownConnection: 'Unknown connection_id.',
  unknownConnectionOfUser: 'Unknown connection.',
  noConnector: 'No connector matches connector_ids / connector_uuids.',
  unknownAction: 'Unknown action.',
  noRedirect: 'There is no redirect_uri to return to.',
  stepExpired: 'This step has expired. Go back to the application and start again.',
  unknownLanguage: 'Unknown language.',
  barePath: 'Service unavailable. Add a language to the path, e.g. /en/{flow}.',
  notFound: 'Page not found.',
  internal: 'Internal error.',
  badRequest: 'Bad request.',
};

export type MessageKey = keyof typeof EN;

const FR: Record<MessageKey, string> = {
  secureConnection: 'Connexion sécurisée',
  emulatorNote: 'Émulateur Powens : une doublure locale de la webview Powens. Aucune vraie banque n’est contactée.',
  error: 'Erreur',
  errorTitle: 'Cette page ne peut pas être affichée',
  errorStatus: 'Erreur {status}. Revenez à l’application et réessayez.',

  connectTitle: 'Connectez votre banque',
  connectLead: 'Choisissez votre banque, puis identifiez-vous avec vos identifiants de banque en ligne. Votre application ne les voit jamais.',
  connectOneLead: 'Identifiez-vous avec vos identifiants de banque en ligne. Votre application ne les voit jamais.',
  chooseBank: 'Choisissez votre banque',
  signInBank: 'Identifiez-vous auprès de votre banque',
  signInTo: 'Identifiez-vous auprès de {bank}',
  kindBank: 'Banque',
  kindTransfers: 'Banque · virements',
  login: 'Identifiant',
  password: 'Mot de passe',
  hintAny: 'Émulateur : tout identifiant et tout mot de passe sont acceptés.',
  hintMagic: 'Ces identifiants de test, avec n’importe quel mot de passe, jouent ce qu’une banque peut demander :',
  hintTestConnector:
    'Avec « Connecteur de test », un identifiant qui nomme un état Powens (SCARequired, wrongpass, websiteUnavailable, ...) crée la connexion dans cet état.',
  magicWrongpass: 'la banque refuse le mot de passe une fois ; saisissez-le à nouveau',
  magicSca: 'la banque envoie un code à usage unique à saisir ({code})',
  magicDecoupled: 'validez l’accès dans l’application bancaire, puis continuez',
  magicQuestion: 'la banque pose une question de plus',
  magicExpiring: 'le consentement de la connexion prend fin dans {days} jours',
  magicCombine: 'Combinez-les avec +, par exemple sca+expiring.',
  terms:
    'En vous connectant, vous acceptez les conditions d’utilisation et la politique de confidentialité de Powens. Vos données sont partagées en lecture seule.',
  connect: 'Se connecter',
  cancel: 'Annuler',
  decline: 'Refuser les conditions',

  reconnectTitle: 'Reconnectez votre banque',
  reconnectHeading: 'Reconnecter {bank}',
  reconnectLead: 'Votre banque vous demande de vous identifier à nouveau pour que vos comptes restent à jour.',
  reconnectResetLead: 'Votre banque n’accepte plus les identifiants enregistrés : saisissez à nouveau votre identifiant et votre mot de passe.',
  reconnect: 'Reconnecter',

  manageTitle: 'Gérez vos connexions bancaires',
  manageHeading: 'Vos connexions bancaires',
  manageLead: 'Supprimez les connexions que vous ne souhaitez plus partager.',
  noConnection: 'Aucune connexion bancaire.',
  remove: 'Supprimer',
  done: 'Terminé',
  removed: '{bank} a été supprimée.',
  upToDate: 'À jour',
  lastSynced: 'dernière synchronisation le {date}',
  consentUntil: 'consentement jusqu’au {date}',

  chooseBankError: 'Choisissez votre banque.',
  credentialsError: 'Saisissez votre identifiant et votre mot de passe.',
  wrongPassword: 'Identifiant ou mot de passe incorrect. Vérifiez-les et réessayez.',

  otpTitle: 'Confirmez votre identité',
  otpLead: '{bank} a envoyé un code à 6 chiffres sur votre téléphone. Saisissez-le pour continuer.',
  otpLabel: 'Code à usage unique',
  otpHint: 'Émulateur : le code est {code}.',
  otpError: 'Ce code n’est pas le bon. Vérifiez le SMS et réessayez.',
  confirm: 'Valider',

  decoupledTitle: 'Validez dans votre application bancaire',
  decoupledLead: 'Ouvrez l’application {bank} sur votre téléphone et validez la demande d’accès, puis continuez ici.',
  decoupledNotYet: 'Votre banque n’a pas encore reçu votre validation. Validez la demande dans l’application, puis continuez.',
  decoupledApproved: 'Validé dans l’application. Vous pouvez continuer.',
  approveOnPhone: 'Valider sur le téléphone (émulateur)',
  continue: 'Continuer',

  questionTitle: 'Votre banque a besoin d’informations',
  questionLead: '{bank} pose une dernière question avant de partager vos comptes.',
  questionLabel: 'Votre date de naissance (JJ/MM/AAAA)',
  questionError: 'Répondez à la question pour continuer.',

  missingParameter: 'Paramètre manquant : {name}.',
  repeatedParameter: 'Le paramètre {name} est donné plusieurs fois.',
  repeatedField: 'Le champ {name} est donné plusieurs fois.',
  unknownDomain: 'Domaine inconnu : cette webview ne le sert pas.',
  unknownClient: 'client_id inconnu.',
  redirectNotAllowed: 'La redirect_uri n’est pas autorisée pour cette application cliente.',
  codeUsed: 'Le code a déjà été utilisé.',
  codeExpired: 'Le code a expiré.',
  codeInvalid: 'Le code n’est pas valide.',
  unknownConnection: 'connection_id inconnu.',
  unknownConnectionOfUser: 'Connexion inconnue.',
  noConnector: 'Aucun connecteur ne correspond à connector_ids / connector_uuids.',
  unknownAction: 'Action inconnue.',
  noRedirect: 'Il n’y a pas de redirect_uri où revenir.',
  stepExpired: 'Cette étape a expiré. Revenez à l’application et recommencez.',
  unknownLanguage: 'Langue inconnue.',
  barePath: 'Service indisponible. Ajoutez une langue au chemin, par exemple /fr/{flow}.',
  notFound: 'Page introuvable.',
  internal: 'Erreur interne.',
  badRequest: 'Requête invalide.',
};

/** The language the pages are written in for a path segment: French for `fr`, English otherwise. */
export type PageLang = 'en' | 'fr';

export function pageLang(lang: string | undefined): PageLang {
  return lang === 'fr' ? 'fr' : 'en';
}

/** The text of `key` in `lang`, with `{name}` replaced by `values[name]` (not escaped: the pages escape). */
export function text(lang: PageLang, key: MessageKey, values: Record<string, string | number> = {}): string {
  const template = (lang === 'fr' ? FR : EN)[key];
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => (Object.hasOwn(values, name) ? String(values[name]) : whole));
}
